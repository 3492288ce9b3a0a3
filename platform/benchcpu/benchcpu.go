// Package benchcpu measures a benchmark's CPU time per operation: the
// process's user and system time from getrusage, every goroutine of the
// test binary counted (a served benchmark's client and backend, the GC,
// a span processor). On a machine others share, wall time per operation
// moves with their load; CPU time much less. The services' benchmarks
// report it as cpu-ns/op beside ns/op.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Used is the CPU time (user and system) the process has used so far, or
// 0 when getrusage fails.
func Used() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Meter counts CPU time from its Start.
type Meter struct{ start time.Duration }

// Start begins a measurement.
func Start() Meter { return Meter{Used()} }

// Report adds cpu-ns/op to b: the CPU time since Start over b.N.
func (m Meter) Report(b *testing.B) {
	b.ReportMetric(float64(Used()-m.start)/float64(b.N), "cpu-ns/op")
}
