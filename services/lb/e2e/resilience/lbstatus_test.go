package resilience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// lbStatus is the lb's admin /status document (services/lb/internal/admin).
type lbStatus struct {
	Pools []struct {
		Name      string
		Available int
		Backends  []lbBackend
	}
}

type lbBackend struct {
	Addr     string
	State    string // up, down, draining, ejected
	Requests uint64
}

var adminClient = &http.Client{Timeout: 2 * time.Second}

func fetchStatus(ctx context.Context, adminURL string) (lbStatus, error) {
	var st lbStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, adminURL+"/status", nil)
	if err != nil {
		return st, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET %s/status: %s", adminURL, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// pool returns the backends of the named pool, keyed by address.
func (s lbStatus) pool(name string) map[string]lbBackend {
	m := map[string]lbBackend{}
	for _, p := range s.Pools {
		if p.Name == name {
			for _, b := range p.Backends {
				m[b.Addr] = b
			}
		}
	}
	return m
}

// describe is the pool as one line: addr=state(requests) ...
func (s lbStatus) describe(name string) string {
	var parts []string
	for _, p := range s.Pools {
		if p.Name == name {
			for _, b := range p.Backends {
				parts = append(parts, fmt.Sprintf("%s=%s(%d)", b.Addr, b.State, b.Requests))
			}
		}
	}
	return name + ": " + strings.Join(parts, " ")
}

// waitFor polls cond every 200 ms until it holds or timeout passes, and
// returns how long that took. cond's message says what it saw last, for
// the failure report.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start)
		}
		if msg != "" {
			last = msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// apiPoolIs reports whether the lb's api pool is exactly addrs, every
// one up.
func (e env) apiPoolIs(addrs []string) func() (bool, string) {
	return func() (bool, string) {
		st, err := fetchStatus(context.Background(), e.adminURL)
		if err != nil {
			return false, err.Error()
		}
		pool := st.pool("api")
		if len(pool) != len(addrs) {
			return false, st.describe("api")
		}
		for _, a := range addrs {
			if pool[a].State != "up" {
				return false, st.describe("api")
			}
		}
		return true, ""
	}
}

// backendState reports what the lb thinks of addr in the api pool: its
// state, or "gone" when the pool no longer has it.
func (e env) backendState(addr string) (lbBackend, string, error) {
	st, err := fetchStatus(context.Background(), e.adminURL)
	if err != nil {
		return lbBackend{}, "", err
	}
	b, ok := st.pool("api")[addr]
	if !ok {
		return lbBackend{}, "gone", nil
	}
	return b, b.State, nil
}

// servesAgain waits until the lb has addr up in the api pool and has sent
// it at least n requests more than it had when first seen in the pool.
func (e env) servesAgain(t *testing.T, addr string, n uint64, timeout time.Duration) {
	t.Helper()
	var base uint64
	have := false
	waitFor(t, "the lb puts "+addr+" back in the api pool", timeout, func() (bool, string) {
		b, state, err := e.backendState(addr)
		if err != nil {
			return false, err.Error()
		}
		if state != "gone" && !have {
			base, have = b.Requests, true
		}
		return state == "up", addr + " is " + state
	})
	waitFor(t, "the lb sends "+addr+" requests again", timeout, func() (bool, string) {
		b, state, err := e.backendState(addr)
		if err != nil {
			return false, err.Error()
		}
		return state == "up" && b.Requests >= base+n, fmt.Sprintf("%s is %s with %d requests (from %d)", addr, state, b.Requests, base)
	})
}
