// Package health runs active health checks against the backends of a
// pool: every backend gets its own probe loop (interval plus jitter, a
// timeout, rise and fall thresholds). A probe answered 2xx is a success,
// 503 drains the backend (no new requests; in-flight requests and streams
// finish), anything else or no answer is a failure. Passive health
// (ejection after failures seen on real traffic) is balancer.Ejector.
package health

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
)

// Checker probes the backends of one pool. Start it with Run; Probe runs
// one check and is what the loops call.
type Checker struct {
	Pool     *balancer.Pool
	Path     string
	Interval time.Duration
	Timeout  time.Duration
	Jitter   time.Duration
	Rise     int
	Fall     int
	Log      *slog.Logger
	// Client sends the probes; nil means a client of its own.
	Client *http.Client
	// OnChange, when set, is told every state change ("down", "up",
	// "draining", "ready").
	OnChange func(b *balancer.Backend, state string)

	clientOnce sync.Once
	mu         sync.Mutex
	probes     map[*balancer.Backend]*probe
}

type probe struct {
	cancel    context.CancelFunc
	successes int
	failures  int
}

// Outcome is what one probe saw.
type Outcome int

// The outcomes of a probe.
const (
	Success Outcome = iota
	Drain
	Failure
)

// Run keeps one probe loop per backend of the pool until ctx ends,
// following the pool's changes.
func (c *Checker) Run(ctx context.Context) {
	var seen uint64 = ^uint64(0)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if n := c.Pool.Changes(); n != seen {
			seen = n
			c.sync(ctx)
		}
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, p := range c.probes {
				p.cancel()
			}
			c.mu.Unlock()
			return
		case <-t.C:
		}
	}
}

// NewClient returns the HTTP client probes use: no redirects, no proxy
// from the environment, a new connection per probe (so a backend that
// stopped accepting is noticed, and a probe is never silently retried).
func NewClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

func (c *Checker) sync(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.probes == nil {
		c.probes = map[*balancer.Backend]*probe{}
	}
	live := map[*balancer.Backend]bool{}
	for _, b := range c.Pool.Backends() {
		live[b] = true
		if _, ok := c.probes[b]; ok {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		c.probes[b] = &probe{cancel: cancel}
		go c.loop(pctx, b)
	}
	for b, p := range c.probes {
		if !live[b] {
			p.cancel()
			delete(c.probes, b)
		}
	}
}

func (c *Checker) loop(ctx context.Context, b *balancer.Backend) {
	// The first probe comes quickly, spread by jitter.
	d := rand.N(c.Jitter + 1)
	for {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.Probe(ctx, b)
		d = c.Interval + rand.N(c.Jitter+1)
	}
}

// Probe checks b once, applies the rise/fall thresholds and reports what
// it saw.
func (c *Checker) Probe(ctx context.Context, b *balancer.Backend) Outcome {
	out := c.check(ctx, b)
	now := time.Now()
	c.mu.Lock()
	if c.probes == nil {
		c.probes = map[*balancer.Backend]*probe{}
	}
	p := c.probes[b]
	if p == nil {
		p = &probe{cancel: func() {}}
		c.probes[b] = p
	}
	var change string
	switch out {
	case Success:
		p.failures = 0
		p.successes++
		if b.Draining() {
			b.SetDraining(false, now)
			change = "ready"
		}
		if b.Down() && p.successes >= c.Rise {
			b.SetDown(false, now)
			change = "up"
		}
	case Drain:
		p.successes = 0
		p.failures = 0
		if !b.Draining() {
			b.SetDraining(true, now)
			change = "draining"
		}
	case Failure:
		p.successes = 0
		p.failures++
		if !b.Down() && p.failures >= c.Fall {
			b.SetDown(true, now)
			change = "down"
		}
	}
	c.mu.Unlock()
	if change != "" {
		c.Log.Info("backend health changed", "pool", c.Pool.Name, "backend", b.HostPort, "state", change)
		if c.OnChange != nil {
			c.OnChange(b, change)
		}
	}
	return out
}

func (c *Checker) check(ctx context.Context, b *balancer.Backend) Outcome {
	c.clientOnce.Do(func() {
		if c.Client == nil {
			c.Client = NewClient()
		}
	})
	client := c.Client
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.HostPort+c.Path, nil)
	if err != nil {
		return Failure
	}
	req.Header.Set("User-Agent", "docker-examples-lb-healthcheck")
	resp, err := client.Do(req)
	if err != nil {
		return Failure
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Success
	case resp.StatusCode == http.StatusServiceUnavailable:
		return Drain
	default:
		return Failure
	}
}
