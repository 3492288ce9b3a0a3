package ratelimit_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

func newLimiter(t *testing.T, r *faultredis.Redis, opts ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(r.Client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func allow(t *testing.T, l *ratelimit.Limiter, key string, limit ratelimit.Limit) ratelimit.Result {
	t.Helper()
	res, err := l.Allow(context.Background(), key, limit)
	if err != nil {
		t.Fatalf("Allow(%s) = %v", key, err)
	}
	return res
}

func TestLimitIsSharedByReplicas(t *testing.T) {
	r := faultredis.New(t)
	limit := ratelimit.Limit{Rate: 3, Burst: 3, Period: time.Minute}
	replicas := []*ratelimit.Limiter{newLimiter(t, r, ratelimit.Options{}), newLimiter(t, r, ratelimit.Options{})}
	var allowed []bool
	var remaining []int
	for i := range 4 {
		res := allow(t, replicas[i%2], "ip:192.0.2.1", limit)
		allowed = append(allowed, res.Allowed)
		remaining = append(remaining, res.Remaining)
	}
	if diff := cmp.Diff([]bool{true, true, true, false}, allowed); diff != "" {
		t.Errorf("allowed, alternating replicas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 1, 0, 0}, remaining); diff != "" {
		t.Errorf("remaining (-want +got):\n%s", diff)
	}
	// Another client has its own budget.
	if res := allow(t, replicas[0], "ip:192.0.2.2", limit); !res.Allowed {
		t.Error("another client was refused")
	}
}

func TestResult(t *testing.T) {
	r := faultredis.New(t)
	l := newLimiter(t, r, ratelimit.Options{})
	limit := ratelimit.Limit{Rate: 2, Burst: 2, Period: time.Minute}
	res := allow(t, l, "k", limit)
	// One request costs 30s of a 2/min budget.
	if !res.Known || !res.Allowed || res.Remaining != 1 || res.Limit != limit || res.RetryAfter != 0 ||
		res.ResetAfter <= 29*time.Second || res.ResetAfter > 30*time.Second {
		t.Errorf("first request = %+v, want allowed with 1 left, reset in 30s", res)
	}
	allow(t, l, "k", limit)
	res = allow(t, l, "k", limit)
	if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 28*time.Second || res.RetryAfter > 30*time.Second {
		t.Errorf("third request = %+v, want refused, retry after about 30s", res)
	}
}

func TestRedisDown(t *testing.T) {
	limit := ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	for _, tc := range []struct {
		name       string
		failClosed bool
		want       error // nil: allowed, unknown
	}{
		{"fails open by default", false, nil},
		{"fails closed when configured", true, ratelimit.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			var logs bytes.Buffer
			l := newLimiter(t, r, ratelimit.Options{
				FailClosed: tc.failClosed,
				BypassFor:  10 * time.Millisecond,
				Log:        slog.New(slog.NewJSONHandler(&logs, nil)),
			})
			allow(t, l, "k", limit) // the budget is spent

			r.Stop()
			for range 3 {
				res, err := l.Allow(context.Background(), "k", limit)
				if !errors.Is(err, tc.want) {
					t.Fatalf("with Redis down: %v, want %v", err, tc.want)
				}
				if err == nil && (!res.Allowed || res.Known) {
					t.Fatalf("with Redis down failing open: %+v, want allowed and not known (no headers)", res)
				}
			}
			if n := strings.Count(logs.String(), "rate limiter cannot reach redis"); n != 1 {
				t.Errorf("outage logged %d times, want once:\n%s", n, logs.String())
			}

			r.Start()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if res, err := l.Allow(context.Background(), "k", limit); err == nil && res.Known && !res.Allowed {
					break
				}
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
