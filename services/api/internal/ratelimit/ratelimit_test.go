package ratelimit_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/platform/env"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// handler plays the API: the limiter in front of a 200 handler, errors
// rendered as the API's error handler would.
func handler(l *ratelimit.Limiter, policy ratelimit.Policy) http.Handler {
	h := l.Middleware(policy)(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusOK)
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		switch {
		case err == nil:
		case errors.Is(err, ratelimit.ErrLimited):
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
		case errors.Is(err, ratelimit.ErrUnavailable):
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
}

func newLimiter(t *testing.T, r *faultredis.Redis, opts ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(r.Client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func do(h http.Handler, remote string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/api/inventory", nil)
	req.RemoteAddr = remote
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// byClientIP is the wiring's policy for anonymous clients.
func byClientIP(res *forwarded.Resolver, limit ratelimit.Limit) ratelimit.Policy {
	return func(r *http.Request) (string, ratelimit.Limit) {
		return ratelimit.IPKey(res.ClientIP(r)), limit
	}
}

func TestLimitIsSharedByReplicas(t *testing.T) {
	r := faultredis.New(t)
	limit := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}
	policy := byClientIP(&forwarded.Resolver{}, limit)
	replicas := []http.Handler{
		handler(newLimiter(t, r, ratelimit.Options{}), policy),
		handler(newLimiter(t, r, ratelimit.Options{}), policy),
	}
	var codes []int
	var remaining []string
	for i := range 4 {
		rec := do(replicas[i%2], "192.0.2.1:1000", nil)
		codes = append(codes, rec.Code)
		remaining = append(remaining, rec.Header().Get("RateLimit-Remaining"))
	}
	if diff := cmp.Diff([]int{200, 200, 200, 429}, codes); diff != "" {
		t.Errorf("status codes alternating replicas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2", "1", "0", "0"}, remaining); diff != "" {
		t.Errorf("RateLimit-Remaining (-want +got):\n%s", diff)
	}
	// Another client has its own budget.
	if rec := do(replicas[0], "192.0.2.2:1000", nil); rec.Code != http.StatusOK {
		t.Errorf("another client got %d, want 200", rec.Code)
	}
}

func TestHeaders(t *testing.T) {
	r := faultredis.New(t)
	limit := ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Minute}
	h := handler(newLimiter(t, r, ratelimit.Options{}), byClientIP(&forwarded.Resolver{}, limit))

	rec := do(h, "192.0.2.1:1", nil)
	want := map[string]string{
		"RateLimit-Limit":     "2",
		"RateLimit-Remaining": "1",
		"RateLimit-Reset":     "30", // one request costs 30s of a 2/min budget
		"RateLimit-Policy":    "2;w=60",
		"Retry-After":         "",
	}
	if diff := cmp.Diff(want, headers(rec, want)); diff != "" {
		t.Errorf("headers of an allowed request (-want +got):\n%s", diff)
	}
	do(h, "192.0.2.1:1", nil)
	rec = do(h, "192.0.2.1:1", nil)
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("third request: %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "30" && got != "29" {
		t.Errorf("Retry-After = %q, want about 30 seconds", got)
	}
	if got := rec.Header().Get("RateLimit-Remaining"); got != "0" {
		t.Errorf("RateLimit-Remaining of a refused request = %q, want 0", got)
	}
}

func headers(rec *httptest.ResponseRecorder, names map[string]string) map[string]string {
	got := map[string]string{}
	for k := range names {
		got[k] = rec.Header().Get(k)
	}
	return got
}

// A client that is not a trusted proxy cannot get a fresh budget by
// sending a new X-Forwarded-For; clients behind a trusted proxy are told
// apart by it.
func TestForwardedForCannotBeSpoofed(t *testing.T) {
	r := faultredis.New(t)
	trusted, err := env.ParsePrefixes("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	h := handler(newLimiter(t, r, ratelimit.Options{}), byClientIP(forwarded.New(trusted), limit))

	do(h, "203.0.113.5:1", map[string]string{"X-Forwarded-For": "198.51.100.1"})
	if rec := do(h, "203.0.113.5:1", map[string]string{"X-Forwarded-For": "198.51.100.2"}); rec.Code != http.StatusTooManyRequests {
		t.Errorf("untrusted client with a new X-Forwarded-For got %d, want 429", rec.Code)
	}
	for _, client := range []string{"198.51.100.1", "198.51.100.2"} {
		if rec := do(h, "10.0.0.9:1", map[string]string{"X-Forwarded-For": client}); rec.Code != http.StatusOK {
			t.Errorf("client %s behind the trusted proxy got %d, want 200", client, rec.Code)
		}
	}
	if rec := do(h, "10.0.0.9:1", map[string]string{"X-Forwarded-For": "198.51.100.1"}); rec.Code != http.StatusTooManyRequests {
		t.Errorf("second request of 198.51.100.1 behind the proxy got %d, want 429", rec.Code)
	}
}

func TestRedisDown(t *testing.T) {
	limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	tests := []struct {
		name       string
		failClosed bool
		want       int
	}{
		{"fails open by default", false, http.StatusOK},
		{"fails closed when configured", true, http.StatusServiceUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			var logs bytes.Buffer
			l := newLimiter(t, r, ratelimit.Options{
				FailClosed: tc.failClosed,
				BypassFor:  10 * time.Millisecond,
				Log:        slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			h := handler(l, byClientIP(&forwarded.Resolver{}, limit))
			do(h, "192.0.2.1:1", nil) // the budget is spent

			r.Stop()
			for range 3 {
				rec := do(h, "192.0.2.1:1", nil)
				if rec.Code != tc.want {
					t.Fatalf("with Redis down: %d, want %d", rec.Code, tc.want)
				}
				if got := rec.Header().Get("RateLimit-Remaining"); got != "" {
					t.Errorf("with Redis down RateLimit-Remaining = %q, want none", got)
				}
			}
			if n := strings.Count(logs.String(), "rate limiter cannot reach redis"); n != 1 {
				t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
			}

			r.Start()
			deadline := time.Now().Add(10 * time.Second)
			for do(h, "192.0.2.1:1", nil).Code != http.StatusTooManyRequests {
				if time.Now().After(deadline) {
					t.Fatal("limit not enforced again after Redis came back")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.1", "ip:192.0.2.1"},
		{"::ffff:192.0.2.1", "ip:192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "ip:2001:db8:1:2::/64"},
	}
	for _, tc := range tests {
		if got := ratelimit.IPKey(netip.MustParseAddr(tc.in)); got != tc.want {
			t.Errorf("IPKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := ratelimit.IPKey(netip.Addr{}); got != "ip:unknown" {
		t.Errorf("IPKey(invalid) = %s, want ip:unknown", got)
	}
}

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in   string
		want ratelimit.Limit
	}{
		{"120/m", ratelimit.Limit{Rate: 120, Burst: 120, Period: time.Minute}},
		{" 10 / sec ", ratelimit.Limit{Rate: 10, Burst: 10, Period: time.Second}},
		{"1000/hour", ratelimit.Limit{Rate: 1000, Burst: 1000, Period: time.Hour}},
	}
	for _, tc := range tests {
		got, err := ratelimit.ParseLimit(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLimit(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "10", "0/m", "-1/m", "ten/m", "10/day"} {
		if _, err := ratelimit.ParseLimit(bad); err == nil {
			t.Errorf("ParseLimit(%q) succeeded, want an error", bad)
		}
	}
}
