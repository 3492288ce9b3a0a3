package health

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// /ready is public: a flood of calls must not become a flood of database
// pings. With Cache, concurrent checks share one round of pings, and a
// report is reused until it is maxAge old; draining shows at once.
func TestCachedCheckPingsOncePerRound(t *testing.T) {
	var pings atomic.Int32
	release := make(chan struct{})
	c := NewChecker(time.Second, Dependency{Name: "postgres", Required: true, Ping: func(context.Context) error {
		pings.Add(1)
		<-release
		return nil
	}}).Cache(time.Hour)

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if rep := c.Check(context.Background()); rep.Status != OK {
				t.Errorf("status %s, want ok", rep.Status)
			}
		})
	}
	for pings.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for range 100 {
		c.Check(context.Background())
	}
	if n := pings.Load(); n != 1 {
		t.Errorf("200 checks pinged %d times, want 1", n)
	}
	c.Drain()
	if rep := c.Check(context.Background()); rep.Status != Draining {
		t.Errorf("after Drain: %s, want draining", rep.Status)
	}

	// Once the report is older than maxAge, the next check pings again.
	var n atomic.Int32
	short := NewChecker(time.Second, Dependency{Name: "redis", Ping: func(context.Context) error { n.Add(1); return nil }}).Cache(time.Nanosecond)
	short.Check(context.Background())
	time.Sleep(time.Millisecond)
	short.Check(context.Background())
	if n.Load() != 2 {
		t.Errorf("pings after the report expired: %d, want 2", n.Load())
	}
}
