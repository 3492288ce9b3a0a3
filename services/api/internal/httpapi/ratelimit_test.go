package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// newLimitedEnv is newEnv with a real limiter: anonymous clients get
// perIP, callers with a key perKey, sign-in attempts login.
func newLimitedEnv(t *testing.T, perIP, perKey, login ratelimit.Limit) *env {
	t.Helper()
	rdb := redistest.New(t)
	limiter, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, func(d *httpapi.Deps) {
		d.RateLimit = httpapi.RateLimit{Limiter: limiter, PerIP: perIP, PerKey: perKey, LoginLimiter: limiter, Login: login}
	})
}

func perMinute(n int) ratelimit.Limit { return ratelimit.Limit{Rate: n, Burst: n, Period: time.Minute} }

func TestRateLimitHeaders(t *testing.T) {
	e := newLimitedEnv(t, perMinute(2), perMinute(5), perMinute(1))
	get := req{method: "GET", path: "/api/inventory", remote: "192.0.2.1:1"}

	w := e.do(t, get)
	wantStatus(t, w, http.StatusOK)
	want := map[string]string{
		"RateLimit-Limit":     "2",
		"RateLimit-Remaining": "1",
		"RateLimit-Reset":     "30", // one request costs 30s of a 2/min budget
		"RateLimit-Policy":    "2;w=60",
		"Retry-After":         "",
	}
	got := map[string]string{}
	for k := range want {
		got[k] = w.Header().Get(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers of an allowed request (-want +got):\n%s", diff)
	}
	e.do(t, get)
	w = e.do(t, get)
	wantProblem(t, w, http.StatusTooManyRequests, "rate-limited")
	if got := w.Header().Get("Retry-After"); got != "30" && got != "29" {
		t.Errorf("Retry-After = %q, want about 30 seconds", got)
	}
	if got := w.Header().Get("RateLimit-Remaining"); got != "0" {
		t.Errorf("RateLimit-Remaining of a refused request = %q, want 0", got)
	}

	// A caller with a key draws from its own budget, from any address.
	w = e.do(t, req{method: "GET", path: "/api/inventory", remote: "192.0.2.1:1", header: map[string]string{"X-API-Key": testKey}})
	wantStatus(t, w, http.StatusOK)
	if got := w.Header().Get("RateLimit-Limit"); got != "5" {
		t.Errorf("RateLimit-Limit with a key = %q, want 5", got)
	}

	// Sign-in has a budget of its own per address, on top of the
	// address's budget for every request.
	login := req{method: "POST", path: "/api/auth/login", remote: "192.0.2.7:1", body: `{"username":"a","password":"b"}`, header: map[string]string{"X-API-Key": ""}}
	wantProblem(t, e.do(t, login), http.StatusUnauthorized, "unauthorized")
	wantProblem(t, e.do(t, login), http.StatusTooManyRequests, "rate-limited")
}

// A client that is not a trusted proxy cannot get a fresh budget by
// sending a new X-Forwarded-For; clients behind a trusted proxy
// (10.0.0.0/8 in newEnv) are told apart by it.
func TestRateLimitForwardedForCannotBeSpoofed(t *testing.T) {
	e := newLimitedEnv(t, perMinute(1), perMinute(1), perMinute(1))
	from := func(peer, xff string) int {
		return e.do(t, req{method: "GET", path: "/api/inventory", remote: peer, header: map[string]string{"X-Forwarded-For": xff}}).Code
	}
	from("203.0.113.5:1", "198.51.100.1")
	if got := from("203.0.113.5:1", "198.51.100.2"); got != http.StatusTooManyRequests {
		t.Errorf("untrusted client with a new X-Forwarded-For got %d, want 429", got)
	}
	for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
		if got := from("10.0.0.9:1", client); got != http.StatusOK {
			t.Errorf("client %s behind the trusted proxy got %d, want 200", client, got)
		}
	}
	if got := from("10.0.0.9:1", "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Errorf("second request of 198.51.100.1 behind the proxy got %d, want 429", got)
	}
}
