package health

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/config"
)

// scripted answers its health checks from a script, one status per probe
// (0 closes the connection).
type scripted struct {
	mu     sync.Mutex
	script []int
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	code := 200
	if len(s.script) > 0 {
		code = s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()
	if code == 0 {
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
		return
	}
	w.WriteHeader(code)
}

func state(b *balancer.Backend) string {
	switch {
	case b.Down():
		return "down"
	case b.Draining():
		return "draining"
	}
	return "up"
}

func TestScriptedHealthSequence(t *testing.T) {
	script := []int{200, 500, 0, 500, 200, 200, 503, 503, 200, 0, 0}
	want := []string{"up", "up", "down", "down", "down", "up", "draining", "draining", "up", "up", "down"}
	srv := httptest.NewServer(&scripted{script: script})
	defer srv.Close()
	pool := balancer.NewPool("api", config.Policy{}, 100, 0)
	pool.Update([]netip.AddrPort{netip.MustParseAddrPort(srv.Listener.Addr().String())}, time.Now())
	b := pool.Backends()[0]
	var changes []string
	c := &Checker{Pool: pool, Path: "/health", Timeout: 5 * time.Second, Rise: 2, Fall: 2,
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnChange: func(_ *balancer.Backend, s string) { changes = append(changes, s) }}
	var got []string
	for range script {
		c.Probe(context.Background(), b)
		got = append(got, state(b))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("states after each probe (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"down", "up", "draining", "ready", "down"}, changes); diff != "" {
		t.Errorf("reported changes (-want +got):\n%s", diff)
	}
}

func TestDrainingBackendGetsNoNewRequestsButKeepsItsInFlight(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: []int{503}})
	defer srv.Close()
	pool := balancer.NewPool("api", config.Policy{}, 100, 0)
	other := netip.MustParseAddrPort("127.0.0.1:1")
	pool.Update([]netip.AddrPort{netip.MustParseAddrPort(srv.Listener.Addr().String()), other}, time.Now())
	var b *balancer.Backend
	for _, x := range pool.Backends() {
		if x.Addr != other {
			b = x
		}
	}
	b.Acquire() // a stream in flight
	c := &Checker{Pool: pool, Path: "/health", Timeout: 5 * time.Second, Rise: 1, Fall: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if got := c.Probe(context.Background(), b); got != Drain {
		t.Fatalf("probe = %v, want Drain", got)
	}
	r := httptest.NewRequest("GET", "/", nil)
	for range 10 {
		if p := pool.Pick(r, nil, netip.Addr{}, time.Now()); p == b {
			t.Fatalf("draining backend picked")
		}
	}
	if b.InFlight() != 1 {
		t.Errorf("in-flight request lost")
	}
}

func TestRunFollowsThePool(t *testing.T) {
	srv := httptest.NewServer(&scripted{script: make([]int, 1000)}) // closes every probe
	defer srv.Close()
	pool := balancer.NewPool("api", config.Policy{}, 100, 0)
	pool.Update([]netip.AddrPort{netip.MustParseAddrPort(srv.Listener.Addr().String())}, time.Now())
	c := &Checker{Pool: pool, Path: "/health", Interval: 10 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	b := pool.Backends()[0]
	deadline := time.Now().Add(10 * time.Second)
	for !b.Down() {
		if time.Now().After(deadline) {
			t.Fatal("backend not marked down by the probe loop within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
