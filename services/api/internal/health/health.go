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

	maxAge time.Duration // 0: every Check pings
	mu     sync.Mutex
	last   Report
	lastAt time.Time
	next   chan struct{} // closed when the check under way is done; nil if none
}

// NewChecker returns a Checker that gives each ping timeout.
func NewChecker(timeout time.Duration, deps ...Dependency) *Checker {
	return &Checker{deps: deps, timeout: timeout}
}

// Cache makes Check answer from a report at most maxAge old, and makes
// concurrent Checks share one round of pings: /ready and /api/status are
// public, and without it every call took a database connection, so a flood
// of them could starve the requests that matter. Call it before use.
func (c *Checker) Cache(maxAge time.Duration) *Checker {
	c.maxAge = maxAge
	return c
}

// Drain makes every later Check report Draining. It cannot be undone: it
// is called once, when shutdown begins.
func (c *Checker) Drain() { c.draining.Store(true) }

// Check pings every dependency concurrently and reports. It takes at most
// the ping timeout. With Cache, a report younger than maxAge is answered
// as it is, and callers arriving while a check is under way wait for it.
func (c *Checker) Check(ctx context.Context) Report {
	if c.maxAge <= 0 {
		return c.withDrain(c.check(ctx))
	}
	for {
		c.mu.Lock()
		if !c.lastAt.IsZero() && time.Since(c.lastAt) < c.maxAge {
			rep := c.last
			c.mu.Unlock()
			return c.withDrain(rep)
		}
		if wait := c.next; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return c.withDrain(Report{Status: Down, Dependencies: map[string]DependencyState{}})
			}
		}
		done := make(chan struct{})
		c.next = done
		c.mu.Unlock()
		// One caller pings for all: its cancellation must not fail the rest.
		rep := c.check(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.last, c.lastAt, c.next = rep, time.Now(), nil
		c.mu.Unlock()
		close(done)
		return c.withDrain(rep)
	}
}

func (c *Checker) withDrain(rep Report) Report {
	if c.draining.Load() {
		rep.Status = Draining
	}
	return rep
}

func (c *Checker) check(ctx context.Context) Report {
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
	return rep
}
