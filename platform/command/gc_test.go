package command_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/docker-examples/stack/platform/command"
)

func init() {
	// gc prints the collector's settings as the runtime reports them.
	programs["gc"] = func(_ context.Context, _ []string, _ func(string) string, stdout io.Writer) error {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
		metrics.Read(s)
		_, err := fmt.Fprintf(stdout, "GOGC=%d GOMEMLIMIT=%d\n", s[0].Value.Uint64(), s[1].Value.Uint64())
		return err
	}
}

// gcProgram runs the gc program with env added to an environment without
// GOGC, GOMEMLIMIT or AUTOMEMLIMIT, and returns what it printed.
func gcProgram(t *testing.T, env ...string) string {
	t.Helper()
	cmd := program(t, "gc")
	var kept []string
	for _, kv := range cmd.Env {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "AUTOMEMLIMIT=") {
			kept = append(kept, kv)
		}
	}
	cmd.Env = append(kept, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gc program: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestMainRaisesGOGCUnlessItIsSet(t *testing.T) {
	if got, want := gcProgram(t), fmt.Sprintf("GOGC=%d ", command.DefaultGCPercent); !strings.HasPrefix(got, want) {
		t.Errorf("without GOGC the program runs with %q, want %q…", got, want)
	}
	if got, want := gcProgram(t, "GOGC=150"), "GOGC=150 "; !strings.HasPrefix(got, want) {
		t.Errorf("with GOGC=150 the program runs with %q, want %q…", got, want)
	}
	if got, want := gcProgram(t, "GOMEMLIMIT=64MiB"), fmt.Sprintf(" GOMEMLIMIT=%d", 64<<20); !strings.HasSuffix(got, want) {
		t.Errorf("with GOMEMLIMIT=64MiB the program runs with %q, want …%q", got, want)
	}
}

// restoreGC puts the test process's collector settings back.
func restoreGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

func TestSetGCTakesNineTenthsOfTheContainerLimit(t *testing.T) {
	if _, ok := os.LookupEnv("AUTOMEMLIMIT"); ok {
		t.Skip("AUTOMEMLIMIT is set in the test's environment")
	}
	t.Setenv("GOMEMLIMIT", "")
	restoreGC(t)
	none := func(string) string { return "" }
	got, err := command.SetGC(none, func() (uint64, error) { return 256 << 20, nil })
	if err != nil {
		t.Fatal(err)
	}
	want := command.GCSettings{GCPercent: command.DefaultGCPercent, MemoryLimit: 241591910} // 0.9 × 256 MiB, rounded down
	if got != want {
		t.Errorf("in a 256 MiB container: %v, want %v", got, want)
	}

	got, err = command.SetGC(none, func() (uint64, error) { return 0, memlimit.ErrNoLimit })
	if err != nil || got.MemoryLimit != math.MaxInt64 {
		t.Errorf("without a container limit: %v, %v; want no limit and no error", got, err)
	}
}
