package command

import (
	"errors"
	"log/slog"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGCPercent is the garbage collector's target (GOGC) a service runs
// with when GOGC is not set: a collection when the heap has grown to five
// times what the last one kept, instead of Go's twice. The services keep
// little (a few MB live), so at Go's default they collect tens of times a
// second under load; each collection's fixed share (mark setup, stacks,
// assists on the goroutines that allocate) lands on requests and shows in
// their p99. The memory limit (GCSettings.MemoryLimit) is what keeps a
// larger target inside the container.
const DefaultGCPercent = 400

// memoryLimitRatio is the share of the container's memory limit given to
// the Go runtime (GOMEMLIMIT); the rest is headroom for what the runtime
// does not count but the container is charged for (the binary's pages,
// socket buffers).
const memoryLimitRatio = 0.9

// GCSettings is how the garbage collector was set at start.
type GCSettings struct {
	// GCPercent is GOGC: from the environment, else DefaultGCPercent.
	GCPercent int
	// MemoryLimit is GOMEMLIMIT in bytes: from the environment, else
	// memoryLimitRatio of the cgroup's memory limit; math.MaxInt64 when
	// there is neither.
	MemoryLimit int64
}

// SetGC sets the garbage collector of a service process: GOGC
// DefaultGCPercent unless GOGC is set, and the soft memory limit from the
// container's cgroup (memlimit, AUTOMEMLIMIT to change the share or "off")
// unless GOMEMLIMIT is set. limit reports the cgroup's limit, or
// memlimit.ErrNoLimit. Main calls it with memlimit.FromCgroup.
func SetGC(getenv func(string) string, limit func() (uint64, error)) (GCSettings, error) {
	// The runtime has read GOGC and GOMEMLIMIT already; an explicit one
	// wins over the defaults below.
	if getenv("GOGC") == "" {
		debug.SetGCPercent(DefaultGCPercent)
	}
	var err error
	if getenv("GOMEMLIMIT") == "" {
		_, err = memlimit.Set(
			memlimit.WithProvider(limit),
			memlimit.WithRatio(memoryLimitRatio),
			memlimit.WithLogger(slog.New(slog.DiscardHandler)),
		)
		if errors.Is(err, memlimit.ErrNoLimit) {
			err = nil
		}
	}
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return GCSettings{GCPercent: percent, MemoryLimit: debug.SetMemoryLimit(-1)}, err
}
