package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

var (
	ctx     = context.Background()
	created = idempotency.Response{Status: http.StatusCreated, Header: http.Header{"Location": {"/api/inventory/1"}}, Body: []byte(`{"id":"1"}`)}
	fpA     = idempotency.Fingerprint("POST", "/api/inventory", "", []byte(`{"name":"a"}`))
)

// begin is Begin that must give a lease.
func begin(t *testing.T, s *idempotency.Store, scope, key, fp string) *idempotency.Lease {
	t.Helper()
	lease, replay, err := s.Begin(ctx, scope, key, fp)
	if err != nil || lease == nil || replay != nil {
		t.Fatalf("Begin(%q, %q) = %v, %v, %v; want a lease", scope, key, lease, replay, err)
	}
	return lease
}

// replayed is Begin that must give a response to replay.
func replayed(t *testing.T, s *idempotency.Store, scope, key, fp string) idempotency.Response {
	t.Helper()
	lease, replay, err := s.Begin(ctx, scope, key, fp)
	if err != nil || lease != nil || replay == nil {
		t.Fatalf("Begin(%q, %q) = %v, %v, %v; want a response to replay", scope, key, lease, replay, err)
	}
	return *replay
}

func TestReplayOnAnyReplica(t *testing.T) {
	r := faultredis.New(t)
	s1, s2 := idempotency.New(r.Client(t), idempotency.Options{}), idempotency.New(r.Client(t), idempotency.Options{})
	begin(t, s1, "", "k-1", fpA).Complete(ctx, created)
	if diff := cmp.Diff(created, replayed(t, s2, "", "k-1", fpA)); diff != "" {
		t.Errorf("replay on replica 2 (-stored +replayed):\n%s", diff)
	}
	// Another key runs.
	begin(t, s2, "", "k-2", fpA)
}

func TestSameKeyDifferentRequest(t *testing.T) {
	r := faultredis.New(t)
	s := idempotency.New(r.Client(t), idempotency.Options{})
	begin(t, s, "", "k", fpA).Complete(ctx, created)
	for _, fp := range []string{
		idempotency.Fingerprint("POST", "/api/inventory", "", []byte(`{"name":"b"}`)),
		idempotency.Fingerprint("POST", "/api/import/compose", "", []byte(`{"name":"a"}`)),
		idempotency.Fingerprint("POST", "/api/inventory", "dry_run=true", []byte(`{"name":"a"}`)),
	} {
		if _, _, err := s.Begin(ctx, "", "k", fp); !errors.Is(err, idempotency.ErrMismatch) {
			t.Errorf("the key with another request: %v, want ErrMismatch (422)", err)
		}
	}
}

func TestKeysAreScopedByCaller(t *testing.T) {
	r := faultredis.New(t)
	s := idempotency.New(r.Client(t), idempotency.Options{})
	begin(t, s, "alice", "k", fpA).Complete(ctx, created)
	begin(t, s, "bob", "k", fpA) // bob's request runs: alice's response is hers
}

func TestConcurrentRequestsOneRuns(t *testing.T) {
	r := faultredis.New(t)
	s1, s2 := idempotency.New(r.Client(t), idempotency.Options{}), idempotency.New(r.Client(t), idempotency.Options{})
	lease := begin(t, s1, "", "k", fpA)
	if _, _, err := s2.Begin(ctx, "", "k", fpA); !errors.Is(err, idempotency.ErrInProgress) {
		t.Errorf("while the first runs: %v, want ErrInProgress (409)", err)
	}
	lease.Complete(ctx, created)
	if diff := cmp.Diff(created, replayed(t, s2, "", "k", fpA)); diff != "" {
		t.Errorf("retry after completion (-stored +replayed):\n%s", diff)
	}
}

func TestReleaseLetsARetryRun(t *testing.T) {
	r := faultredis.New(t)
	s := idempotency.New(r.Client(t), idempotency.Options{})
	begin(t, s, "", "k", fpA).Release(ctx)
	begin(t, s, "", "k", fpA)
}

func TestRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		want     error
	}{
		{"fails closed by default", false, idempotency.ErrUnavailable},
		{"fails open when configured", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			s := idempotency.New(r.Client(t), idempotency.Options{FailOpen: tc.failOpen})
			r.Stop()
			lease, replay, err := s.Begin(ctx, "", "k", fpA)
			if !errors.Is(err, tc.want) || lease != nil || replay != nil {
				t.Errorf("Begin with Redis down = %v, %v, %v; want no lease, no replay, error %v", lease, replay, err, tc.want)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{`"8e03978e-40d5"`, "8e03978e-40d5", true},
		{`"with space and \"quote\" and \\"`, `with space and "quote" and \`, true},
		{strings.Repeat("a", 255), strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), "", false},
		{"", "", false},
		{`""`, "", false},
		{`"abc`, "", false},
		{`"a"b"`, "", false},
		{`"bad\escape"`, "", false},
		{"has space", "", false},
		{"tab\there", "", false},
		{"naïve", "", false},
		{`a"b`, "", false},
	}
	for _, tc := range tests {
		got, err := idempotency.ParseKey(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, idempotency.ErrInvalidKey) {
			t.Errorf("ParseKey(%q) error %v is not ErrInvalidKey", tc.in, err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, `"a\"b"`, `"`, `""`, `"\`, "a b", strings.Repeat("z", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := idempotency.ParseKey(s)
		if err != nil {
			if !errors.Is(err, idempotency.ErrInvalidKey) {
				t.Fatalf("ParseKey(%q) error %v is not ErrInvalidKey", s, err)
			}
			return
		}
		if len(k) == 0 || len(k) > idempotency.MaxKeyLen {
			t.Fatalf("ParseKey(%q) = %q: length %d out of bounds", s, k, len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q holds a non-printable byte", s, k)
			}
		}
		// The quoted form of any key parses back to it.
		q := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if back, err := idempotency.ParseKey(q); err != nil || back != k {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q", q, back, err, k)
		}
	})
}

// TestQuotaByRecordsAndBytes: a scope's new keys are refused once it
// keeps MaxRecords responses or MaxBytes of them, until they expire;
// replays and other scopes are not refused.
func TestQuotaByRecordsAndBytes(t *testing.T) {
	r := faultredis.New(t)
	big := idempotency.Response{Status: http.StatusCreated, Body: []byte(strings.Repeat("x", 2048))}
	for _, tc := range []struct {
		name string
		opts idempotency.Options
		res  idempotency.Response
	}{
		{"records", idempotency.Options{Prefix: "rec:", MaxRecords: 3, TTL: time.Second}, created},
		{"bytes", idempotency.Options{Prefix: "bytes:", MaxBytes: 8000, TTL: time.Second}, big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := idempotency.New(r.Client(t), tc.opts)
			for i := range 3 {
				begin(t, s, "alice", fmt.Sprint("k-", i), fpA).Complete(ctx, tc.res)
			}
			_, _, err := s.Begin(ctx, "alice", "k-new", fpA)
			var qe *idempotency.QuotaError
			if !errors.As(err, &qe) || !errors.Is(err, idempotency.ErrQuota) || qe.RetryAfter < time.Second {
				t.Fatalf("a new key over the quota: %v, want a QuotaError with RetryAfter >= 1s", err)
			}
			replayed(t, s, "alice", "k-0", fpA)
			begin(t, s, "bob", "k-new", fpA)
			// The refused key was not left locked, and the quota frees
			// itself as the stored responses expire.
			deadline := time.Now().Add(10 * time.Second)
			for {
				lease, _, err := s.Begin(ctx, "alice", "k-new", fpA)
				if err == nil && lease != nil {
					break
				}
				if !errors.Is(err, idempotency.ErrQuota) || time.Now().After(deadline) {
					t.Fatalf("after the TTL: %v, want a lease", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// A burst of new keys at the same moment cannot pass the record quota
// together: each request holds its place in the count from Begin on.
func TestQuotaHoldsAgainstABurst(t *testing.T) {
	r := faultredis.New(t)
	s := idempotency.New(r.Client(t), idempotency.Options{Prefix: "burst:", MaxRecords: 3})
	const burst = 20
	leases := make(chan *idempotency.Lease, burst)
	var refused atomic.Int32
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() {
			lease, _, err := s.Begin(ctx, "mallory", fmt.Sprint("k-", i), fpA)
			switch {
			case err == nil && lease != nil:
				leases <- lease
			case errors.Is(err, idempotency.ErrQuota):
				refused.Add(1)
			default:
				t.Errorf("Begin in a burst: %v, %v; want a lease or ErrQuota", lease, err)
			}
		})
	}
	wg.Wait()
	close(leases)
	var running []*idempotency.Lease
	for l := range leases {
		running = append(running, l)
	}
	if len(running) != 3 || refused.Load() != burst-3 {
		t.Fatalf("%d requests with new keys at once against a quota of 3: %d ran, %d refused; want 3 and %d",
			burst, len(running), refused.Load(), burst-3)
	}
	// A released place is free again; a completed one stays taken.
	running[0].Release(ctx)
	begin(t, s, "mallory", "k-after-release", fpA).Complete(ctx, created)
	running[1].Complete(ctx, created)
	if _, _, err := s.Begin(ctx, "mallory", "k-one-more", fpA); !errors.Is(err, idempotency.ErrQuota) {
		t.Errorf("with 2 stored and 1 running against a quota of 3: %v, want ErrQuota", err)
	}
	// Another caller has its own quota.
	begin(t, s, "alice", "k-0", fpA)
}
