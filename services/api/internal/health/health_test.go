package health

import (
	"context"
	"errors"
	"testing"
	"time"
)

func dep(name string, required bool, err error) Dependency {
	return Dependency{Name: name, Required: required, Ping: func(context.Context) error { return err }}
}

func TestCheck(t *testing.T) {
	down := errors.New("down")
	tests := []struct {
		name      string
		deps      []Dependency
		drain     bool
		want      string
		wantReady bool
	}{
		{"all up", []Dependency{dep("postgres", true, nil), dep("redis", false, nil)}, false, OK, true},
		{"optional down", []Dependency{dep("postgres", true, nil), dep("redis", false, down)}, false, Degraded, true},
		{"required down", []Dependency{dep("postgres", true, down), dep("redis", false, down)}, false, Down, false},
		{"draining", []Dependency{dep("postgres", true, nil)}, true, Draining, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker(time.Second, tt.deps...)
			if tt.drain {
				c.Drain()
			}
			rep := c.Check(context.Background())
			if rep.Status != tt.want || rep.Ready() != tt.wantReady {
				t.Errorf("Check = %s (ready %v), want %s (ready %v)", rep.Status, rep.Ready(), tt.want, tt.wantReady)
			}
			if len(rep.Dependencies) != len(tt.deps) {
				t.Errorf("report has %d dependencies, want %d", len(rep.Dependencies), len(tt.deps))
			}
		})
	}
}

func TestAHangingDependencyIsDownAfterTheTimeout(t *testing.T) {
	hang := Dependency{Name: "redis", Ping: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}
	rep := NewChecker(10*time.Millisecond, hang).Check(context.Background())
	if rep.Dependencies["redis"].Status != Down {
		t.Fatalf("hanging dependency = %+v, want down", rep.Dependencies["redis"])
	}
}
