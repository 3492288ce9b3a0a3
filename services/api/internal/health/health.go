// Package health answers "can this instance serve?" for /ready and
// /api/status: it pings each dependency with a short timeout, concurrently,
// and knows when the instance is draining before shutdown.
package health

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Dependency is something the service talks to.
type Dependency struct {
	Name string
	// Ping returns nil when the dependency answers. It must honour ctx.
	Ping func(ctx context.Context) error
	// Required dependencies make the service unready when down; optional
	// ones (Redis, an optimisation) only degrade it.
	Required bool
}

// States of a dependency and of the whole instance.
const (
	Up       = "up"
	Down     = "down"
	OK       = "ok"
	Degraded = "degraded"
	Draining = "draining"
)

// DependencyState is the result of one ping.
type DependencyState struct {
	Status    string  `json:"status"` // Up or Down
	LatencyMS float64 `json:"latency_ms"`
}

// Report is the result of one check.
type Report struct {
	// Status is OK, Degraded (an optional dependency is down), Down (a
	// required one is) or Draining (shutting down).
	Status       string                     `json:"status"`
	Dependencies map[string]DependencyState `json:"dependencies"`
}

// Ready reports whether the instance should receive traffic.
func (r Report) Ready() bool { return r.Status == OK || r.Status == Degraded }

// Checker checks dependencies. It is safe for concurrent use.
type Checker struct {
	deps     []Dependency
	timeout  time.Duration
	draining atomic.Bool
}

// NewChecker returns a Checker that gives each ping timeout.
func NewChecker(timeout time.Duration, deps ...Dependency) *Checker {
	return &Checker{deps: deps, timeout: timeout}
}

// Drain makes every later Check report Draining. It cannot be undone: it
// is called once, when shutdown begins.
func (c *Checker) Drain() { c.draining.Store(true) }

// Check pings every dependency concurrently and reports. It takes at most
// the ping timeout.
func (c *Checker) Check(ctx context.Context) Report {
	rep := Report{Status: OK, Dependencies: make(map[string]DependencyState, len(c.deps))}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, d := range c.deps {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			start := time.Now()
			err := d.Ping(pctx)
			st := DependencyState{Status: Up, LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				st.Status = Down
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Dependencies[d.Name] = st
			switch {
			case err == nil:
			case d.Required:
				rep.Status = Down
			case rep.Status == OK:
				rep.Status = Degraded
			}
		})
	}
	wg.Wait()
	if c.draining.Load() {
		rep.Status = Draining
	}
	return rep
}
