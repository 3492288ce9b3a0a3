// Package resilience_test shows, against a running stack, that clients of
// the lb see no failed request while an api replica is killed, stopped or
// replaced: it puts steady load on the lb, acts on the replicas through
// the Docker CLI (docker kill, docker stop, docker service update), and
// checks that the replicas come back and rejoin the lb's pool.
//
// It runs only when RESILIENCE_PATTERN names the running pattern, cluster
// (after `make cluster`) or swarm (after `make swarm-up`), and changes that
// stack; scripts/resilience.sh (make resilience-cluster, make
// resilience-swarm) runs it. The variables it reads:
//
//	RESILIENCE_PATTERN      cluster or swarm
//	RESILIENCE_LB_URL       the lb, default https://127.0.0.1:443 (its CA in
//	                        SSL_CERT_FILE, as scripts/resilience.sh sets it)
//	RESILIENCE_API_KEY      sent in X-API-Key on api requests (deploy/secrets/api_key.txt)
//	RESILIENCE_ADMIN_URL    the lb's admin listener; found with docker inspect when unset
//	RESILIENCE_RATE         requests per second, default 120 (two thirds to the api)
//	RESILIENCE_WORKERS      most requests in flight at once, default 16
//	RESILIENCE_MAX_LATENCY  the slowest request allowed, default 4s
//
// The load is steady rather than as fast as possible: on a small machine a
// flood starves the health checks and the check would measure the machine.
// Its api requests carry the API key, so they draw from RATE_LIMIT_KEY
// (6000/m, bursts of 6000, shared by the replicas), and the default rate
// sends 80 a second, below its 100: the stack is checked as `make cluster`
// and `make swarm-up` start it, and a 429 is a failure like any other.
package resilience_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadPaths are what the load asks for, in turn: the api pool twice (pages
// of the inventory, which each replica reads through Redis from
// PostgreSQL) and the frontend pool once (the UI's page).
var loadPaths = []string{"/api/inventory?limit=20", "/", "/api/inventory?limit=5"}

// loadConfig sizes the load.
type loadConfig struct {
	base    string        // the lb's URL
	apiKey  string        // X-API-Key for api requests; none when empty
	rate    float64       // requests per second
	workers int           // most requests in flight at once
	timeout time.Duration // per request; past it the request counts as failed
}

// sample is one finished request.
type sample struct {
	start   time.Time
	latency time.Duration
	path    string
	status  int    // 0 when no response came
	err     string // transport error or the reason a response is a failure
	reqID   string // X-Request-ID the lb answered with
}

func (s sample) failed() bool { return s.err != "" }

// load sends GET requests at a steady rate with bounded concurrency until
// stopped, and keeps every result. A tick that finds every worker busy is
// counted as missed, not queued: the load stays at the configured rate or
// below, and missed ticks show when the stack answered slowly.
type load struct {
	cfg    loadConfig
	client *http.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	missed atomic.Int64

	mu      sync.Mutex
	samples []sample
	started time.Time
	stopped time.Time
}

// startLoad starts sending requests; stop ends it and returns the result.
func startLoad(cfg loadConfig) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{
		cfg:    cfg,
		cancel: cancel,
		client: &http.Client{
			Timeout: cfg.timeout,
			Transport: &http.Transport{
				MaxIdleConnsPerHost: cfg.workers,
				DisableCompression:  true,
				Proxy:               nil,
			},
		},
		started: time.Now(),
	}
	ticks := make(chan int, cfg.workers)
	for range cfg.workers {
		l.wg.Go(func() {
			for i := range ticks {
				l.record(l.do(ctx, loadPaths[i%len(loadPaths)]))
			}
		})
	}
	l.wg.Go(func() {
		defer close(ticks)
		interval := time.Duration(float64(time.Second) / cfg.rate)
		next := time.Now()
		for i := 0; ; i++ {
			next = next.Add(interval)
			t := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			select {
			case ticks <- i:
			default:
				l.missed.Add(1)
			}
		}
	})
	return l
}

func (l *load) do(ctx context.Context, path string) sample {
	s := sample{start: time.Now(), path: path}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, l.cfg.base+path, nil)
	if err != nil {
		s.err = err.Error()
		return s
	}
	if l.cfg.apiKey != "" && strings.HasPrefix(path, "/api/") {
		req.Header.Set("X-API-Key", l.cfg.apiKey)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		s.latency = time.Since(s.start)
		s.err = err.Error()
		return s
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.latency = time.Since(s.start)
	s.status = resp.StatusCode
	s.reqID = resp.Header.Get("X-Request-ID")
	switch {
	case rerr != nil:
		s.err = "reading the body: " + rerr.Error()
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		s.err = fmt.Sprintf("status %d: %.200s", resp.StatusCode, body)
	}
	return s
}

func (l *load) record(s sample) {
	l.mu.Lock()
	l.samples = append(l.samples, s)
	l.mu.Unlock()
}

// answered counts the requests that started at or after t and succeeded.
func (l *load) answeredSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.samples {
		if !s.start.Before(t) && !s.failed() {
			n++
		}
	}
	return n
}

// stop ends the load, waits for requests in flight and returns the result.
func (l *load) stop() loadResult {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
	l.stopped = time.Now()
	return summarize(l.samples, l.started, l.stopped, l.missed.Load())
}

// loadResult is what the client saw.
type loadResult struct {
	samples          []sample
	start, end       time.Time
	requests, failed int
	missed           int64
	slow             int // answered, but after more than a second
	p50, p99, max    time.Duration
}

func summarize(samples []sample, start, end time.Time, missed int64) loadResult {
	r := loadResult{samples: samples, start: start, end: end, requests: len(samples), missed: missed}
	lat := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		if s.failed() {
			r.failed++
		}
		if s.latency > time.Second {
			r.slow++
		}
		lat = append(lat, s.latency)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.p50, r.p99, r.max = lat[n/2], lat[(n*99)/100], lat[n-1]
	}
	return r
}

// between counts the requests that started in [from, to), and the failed
// ones among them.
func (r loadResult) between(from, to time.Time) (requests, failed int) {
	for _, s := range r.samples {
		if !s.start.Before(from) && s.start.Before(to) {
			requests++
			if s.failed() {
				failed++
			}
		}
	}
	return requests, failed
}

// String is the one-line summary the checks print.
func (r loadResult) String() string {
	d := r.end.Sub(r.start).Seconds()
	return fmt.Sprintf("%d requests in %.1fs (%.0f/s), %d failed, %d slower than 1s, latency p50 %s p99 %s max %s, %d ticks missed (every worker busy)",
		r.requests, d, float64(r.requests)/d, r.failed, r.slow,
		r.p50.Round(100*time.Microsecond), r.p99.Round(100*time.Microsecond), r.max.Round(time.Millisecond), r.missed)
}

// slowest describes the n slowest requests slower than a second.
func (r loadResult) slowest(n int) string {
	var slow []sample
	for _, s := range r.samples {
		if s.latency > time.Second {
			slow = append(slow, s)
		}
	}
	sort.Slice(slow, func(i, j int) bool { return slow[i].latency > slow[j].latency })
	var b strings.Builder
	for _, s := range slow[:min(n, len(slow))] {
		fmt.Fprintf(&b, "\n  at +%.3fs GET %s took %s (status %d, request id %q)",
			s.start.Sub(r.start).Seconds(), s.path, s.latency.Round(time.Millisecond), s.status, s.reqID)
	}
	return b.String()
}

// failures describes up to n failed requests, and how many of each kind
// there were.
func (r loadResult) failures(n int) string {
	var b strings.Builder
	kinds := map[string]int{}
	shown := 0
	for _, s := range r.samples {
		if !s.failed() {
			continue
		}
		kind := s.err
		if s.status != 0 {
			kind = fmt.Sprintf("status %d", s.status)
		} else if i := strings.LastIndex(kind, ": "); i >= 0 {
			kind = kind[i+2:]
		}
		kinds[s.path+" "+kind]++
		if shown < n {
			fmt.Fprintf(&b, "\n  at +%.3fs GET %s after %s (request id %q): %s",
				s.start.Sub(r.start).Seconds(), s.path, s.latency.Round(time.Millisecond), s.reqID, s.err)
			shown++
		}
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %dx %s", kinds[k], k)
	}
	return b.String()
}

// underLoad starts the load and waits until it has warmed up.
func (e env) underLoad(t *testing.T) *load {
	t.Helper()
	l := startLoad(e.load)
	t.Cleanup(func() { l.stop() })
	waitFor(t, "the load warmed up", 30*time.Second, func() (bool, string) {
		return l.answeredSince(l.started) >= int(e.load.rate), ""
	})
	return l
}

// finish keeps the load on a little longer with the stack recovered, stops
// it and checks that no request failed and that some ran while the stack
// was changing (from t0 for d).
func (e env) finish(t *testing.T, l *load, event string, t0 time.Time, d time.Duration) {
	t.Helper()
	settle := time.Now()
	waitFor(t, "load after recovery", time.Minute, func() (bool, string) {
		return l.answeredSince(settle) >= int(2*e.load.rate), ""
	})
	res := l.stop()
	during, failedDuring := res.between(t0, t0.Add(d))
	t.Logf("load: %s; %d requests (%d failed) during the %s; the lb answered %d api requests from a second backend",
		res, during, failedDuring, event, e.lbRetried(t, res.start))
	if res.slow > 0 {
		t.Logf("the slowest requests:%s", res.slowest(10))
	}
	if res.failed > 0 {
		hint := ""
		if slices.ContainsFunc(res.samples, func(s sample) bool { return s.status == http.StatusTooManyRequests }) {
			hint = "\n(429: the load outran a rate limit; lower RESILIENCE_RATE, or start the stack with RATE_LIMIT_KEY raised)"
		}
		t.Errorf("%d of %d requests failed:%s%s", res.failed, res.requests, res.failures(10), hint)
	}
	// A request that waits seconds for a backend that is gone is not a
	// failure the client sees, but a stall it feels; the bound is above
	// TCP's 3 s SYN retry and below the lb's 5 s connect timeout.
	if res.max > e.maxLatency {
		t.Errorf("the slowest request took %s, more than %s (RESILIENCE_MAX_LATENCY):%s", res.max.Round(time.Millisecond), e.maxLatency, res.slowest(10))
	}
	if during < int(e.load.rate) {
		t.Errorf("only %d requests during the %s: the load did not cover it", during, event)
	}
}
