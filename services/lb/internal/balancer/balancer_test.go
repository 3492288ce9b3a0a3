package balancer

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/lb/internal/config"
)

func addrs(ports ...int) []netip.AddrPort {
	var out []netip.AddrPort
	for _, p := range ports {
		out = append(out, netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(p)))
	}
	return out
}

func ports(bs []*Backend) []int {
	var out []int
	for _, b := range bs {
		out = append(out, int(b.Addr.Port()))
	}
	return out
}

var t0 = time.Unix(1_700_000_000, 0)

func newTestPool(p config.PolicyKind, arg string, ps ...int) *Pool {
	pool := NewPool("api", config.Policy{Kind: p, Arg: arg}, 100, 0)
	pool.Update(addrs(ps...), t0)
	return pool
}

func pickN(pool *Pool, n int, r *http.Request) []int {
	var out []int
	for range n {
		b := pool.Pick(r, nil, netip.Addr{}, t0.Add(time.Hour))
		if b == nil {
			out = append(out, 0)
			continue
		}
		out = append(out, int(b.Addr.Port()))
	}
	return out
}

func TestUpdateKeepsStateAndReportsDiff(t *testing.T) {
	pool := newTestPool(config.RoundRobin, "", 3, 1, 2)
	if diff := cmp.Diff([]int{1, 2, 3}, ports(pool.Backends())); diff != "" {
		t.Fatalf("sorted snapshot (-want +got):\n%s", diff)
	}
	b2 := pool.Backends()[1]
	b2.SetDown(true, t0)
	added, removed := pool.Update(addrs(4, 2, 3, 2), t0)
	if diff := cmp.Diff([]int{4}, ports(added)); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1}, ports(removed)); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if pool.Backends()[0] != b2 || !b2.Down() {
		t.Errorf("backend :2 lost its state across the update")
	}
	if !removed[0].Removed() {
		t.Errorf("removed backend not marked removed")
	}
	if a, r := pool.Update(addrs(2, 3, 4), t0); a != nil || r != nil {
		t.Errorf("same set: added %v removed %v, want no change", a, r)
	}
}

func TestRoundRobinSkipsUnavailable(t *testing.T) {
	pool := newTestPool(config.RoundRobin, "", 1, 2, 3, 4)
	bs := pool.Backends()
	bs[1].SetDown(true, t0)                                // :2 failed health checks
	bs[2].SetDraining(true, t0)                            // :3 answered 503
	bs[3].ejectEnd.Store(t0.Add(2 * time.Hour).UnixNano()) // :4 ejected
	got := pickN(pool, 3, httptest.NewRequest("GET", "/", nil))
	if diff := cmp.Diff([]int{1, 1, 1}, got); diff != "" {
		t.Errorf("picks (-want +got):\n%s", diff)
	}
}

func TestFallsBackToUnavailableRatherThanNothing(t *testing.T) {
	pool := newTestPool(config.RoundRobin, "", 1, 2)
	for _, b := range pool.Backends() {
		b.SetDown(true, t0)
	}
	got := pickN(pool, 4, httptest.NewRequest("GET", "/", nil))
	if diff := cmp.Diff([]int{1, 2, 1, 2}, got); diff != "" {
		t.Errorf("picks with every backend down (-want +got):\n%s", diff)
	}
}

func TestTriedBackendsAreNotPickedAgain(t *testing.T) {
	pool := newTestPool(config.LeastRequests, "", 1, 2, 3)
	bs := pool.Backends()
	r := httptest.NewRequest("GET", "/", nil)
	for range 50 {
		b := pool.Pick(r, []*Backend{bs[0], bs[2]}, netip.Addr{}, t0)
		if b != bs[1] {
			t.Fatalf("picked %v, want the only untried :2", b.Addr)
		}
	}
	if b := pool.Pick(r, bs, netip.Addr{}, t0); b != nil {
		t.Errorf("every backend tried: picked %v, want nil", b.Addr)
	}
}

func TestInFlightCap(t *testing.T) {
	pool := NewPool("api", config.Policy{Kind: config.RoundRobin}, 1, 0)
	pool.Update(addrs(1, 2), t0)
	bs := pool.Backends()
	bs[0].Acquire()
	bs[1].Acquire()
	if b := pool.Pick(httptest.NewRequest("GET", "/", nil), nil, netip.Addr{}, t0); b != nil {
		t.Errorf("every backend at its cap: picked %v, want nil", b.Addr)
	}
	bs[1].Release()
	if b := pool.Pick(httptest.NewRequest("GET", "/", nil), nil, netip.Addr{}, t0); b != bs[1] {
		t.Errorf("picked %v, want the one under its cap", b)
	}
}

func TestLeastRequestsPrefersTheLessLoaded(t *testing.T) {
	pool := newTestPool(config.LeastRequests, "", 1, 2)
	bs := pool.Backends()
	for range 10 {
		bs[0].Acquire()
	}
	got := pickN(pool, 20, httptest.NewRequest("GET", "/", nil))
	for _, p := range got {
		if p != 2 {
			t.Fatalf("picks %v: with two backends both are compared, want always :2", got)
		}
	}
}

func TestLeastRequestsSpreadsEvenly(t *testing.T) {
	pool := newTestPool(config.LeastRequests, "", 1, 2, 3, 4)
	r := httptest.NewRequest("GET", "/", nil)
	// Requests that stay in flight: P2C keeps the spread within a few.
	for range 400 {
		pool.Pick(r, nil, netip.Addr{}, t0.Add(time.Hour)).Acquire()
	}
	for _, b := range pool.Backends() {
		if n := b.InFlight(); n < 90 || n > 110 {
			t.Errorf("backend %v has %d in flight, want about 100", b.Addr, n)
		}
	}
}

func TestCookiePolicySticks(t *testing.T) {
	pool := newTestPool(config.Cookie, "lb", 1, 2, 3)
	bs := pool.Backends()
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "other=1; lb="+bs[2].ID+"; x=y")
	got := pickN(pool, 3, r)
	if diff := cmp.Diff([]int{3, 3, 3}, got); diff != "" {
		t.Errorf("sticky picks (-want +got):\n%s", diff)
	}
	h := http.Header{}
	pool.Policy.(Affinity).Stick(h, r, bs[2])
	if len(h["Set-Cookie"]) != 0 {
		t.Errorf("cookie already right, but Set-Cookie %v", h["Set-Cookie"])
	}
	// Its backend leaves: another one takes over and the cookie moves.
	bs[2].SetDraining(true, t0)
	b := pool.Pick(r, nil, netip.Addr{}, t0)
	if b == bs[2] {
		t.Fatalf("picked the draining backend")
	}
	pool.Policy.(Affinity).Stick(h, r, b)
	if want := "lb=" + b.ID + "; Path=/; HttpOnly; SameSite=Lax"; h.Get("Set-Cookie") != want {
		t.Errorf("Set-Cookie = %q, want %q", h.Get("Set-Cookie"), want)
	}
}

func TestHashPolicyIsConsistent(t *testing.T) {
	pool := newTestPool(config.Hash, "X-User", 1, 2, 3, 4, 5)
	owner := map[string]int{}
	for i := range 200 {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", fmt.Sprint("user-", i))
		got := pickN(pool, 2, r)
		if got[0] != got[1] {
			t.Fatalf("same key, different backends %v", got)
		}
		owner[r.Header.Get("X-User")] = got[0]
	}
	// Removing :3 moves only the keys it owned.
	pool.Update(addrs(1, 2, 4, 5), t0)
	moved := 0
	for key, was := range owner {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-User", key)
		now := pickN(pool, 1, r)[0]
		if now != was {
			moved++
			if was != 3 {
				t.Errorf("key %s moved from :%d to :%d although :%d stayed", key, was, now, was)
			}
		}
	}
	if moved == 0 {
		t.Errorf("no key moved although :3 left")
	}
}

func TestHashPolicyUsesClientAddressByDefault(t *testing.T) {
	pool := newTestPool(config.Hash, "", 1, 2, 3)
	r := httptest.NewRequest("GET", "/", nil)
	a := pool.Pick(r, nil, netip.MustParseAddr("198.51.100.1"), t0)
	for range 5 {
		if b := pool.Pick(r, nil, netip.MustParseAddr("198.51.100.1"), t0); b != a {
			t.Fatalf("same client address, different backends")
		}
	}
}

func TestEjectorBacksOffExponentially(t *testing.T) {
	e := Ejector{After: 2, Base: time.Second, Max: 5 * time.Second}
	b := NewBackend(addrs(1)[0], t0)
	now := t0
	var got []time.Duration
	for range 4 {
		if d := e.Failure(b, now); d != 0 {
			t.Fatalf("ejected after one failure")
		}
		d := e.Failure(b, now)
		got = append(got, d)
		if b.Available(now.UnixNano(), 10) {
			t.Errorf("available while ejected")
		}
		now = now.Add(d) // ejection over
		if !b.Available(now.UnixNano(), 10) {
			t.Errorf("not available after the ejection ended")
		}
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}, got); diff != "" {
		t.Errorf("ejection lengths (-want +got):\n%s", diff)
	}
	// A success long after resets the backoff.
	e.Success(b, now.Add(time.Minute))
	e.Failure(b, now.Add(time.Minute))
	if d := e.Failure(b, now.Add(time.Minute)); d != time.Second {
		t.Errorf("after recovery ejection = %v, want the base 1s", d)
	}
}

func TestSlowStartWeight(t *testing.T) {
	b := NewBackend(addrs(1)[0], t0)
	for _, tt := range []struct {
		after time.Duration
		want  float64
	}{{0, 0.1}, {5 * time.Second, 0.55}, {10 * time.Second, 1}, {time.Hour, 1}} {
		if got := b.Weight(t0.Add(tt.after).UnixNano(), 10*time.Second); got != tt.want {
			t.Errorf("weight after %v = %v, want %v", tt.after, got, tt.want)
		}
	}
	// Coming back up restarts slow start.
	b.SetDown(true, t0)
	b.SetDown(false, t0.Add(time.Hour))
	if got := b.Weight(t0.Add(time.Hour).UnixNano(), 10*time.Second); got != 0.1 {
		t.Errorf("weight just after recovery = %v, want 0.1", got)
	}
}

func TestSlowStartGivesANewBackendAFractionOfTraffic(t *testing.T) {
	pool := NewPool("api", config.Policy{Kind: config.RoundRobin}, 100, 10*time.Second)
	pool.Update(addrs(1), t0.Add(-time.Hour)) // an old, warm backend
	pool.Update(addrs(1, 2), t0)              // :2 just joined
	r := httptest.NewRequest("GET", "/", nil)
	n := 0
	for range 1000 {
		if pool.Pick(r, nil, netip.Addr{}, t0).Addr.Port() == 2 {
			n++
		}
	}
	// Weight 0.1 on every other turn: about 5% of the picks, not 50%.
	if n < 20 || n > 120 {
		t.Errorf("new backend got %d of 1000 picks, want about 50", n)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, kind := range []config.PolicyKind{config.RoundRobin, config.LeastRequests, config.Cookie, config.Hash} {
		pool := newTestPool(kind, "", 1, 2, 3)
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", "a=b")
		allocs := testing.AllocsPerRun(100, func() { pool.Pick(r, nil, netip.Addr{}, t0) })
		if allocs != 0 {
			t.Errorf("%s: Pick allocates %v times, want 0", kind, allocs)
		}
	}
}

type hook chan struct{}

func (h hook) BackendLost() { h <- struct{}{} }

// A watch hears of the next loss (marked down, or ejected) once; one
// withdrawn before it hears nothing, nor does one added after it.
func TestWatchHearsTheNextLoss(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := NewBackend(addrs(1)[0], t0)
	told, withdrawn, late := make(hook, 1), make(hook, 1), make(hook, 1)
	b.Watch(told)
	b.Watch(withdrawn)
	b.Unwatch(withdrawn)
	b.SetDown(true, t0)
	select {
	case <-told:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch was not told of the backend marked down")
	}
	b.Watch(late)
	b.SetDown(false, t0)
	if ej := (Ejector{After: 1, Base: time.Second, Max: time.Minute}).Failure(b, t0); ej == 0 {
		t.Fatal("no ejection")
	}
	select {
	case <-late:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch added after the first loss was not told of the ejection")
	}
	select {
	case <-told:
		t.Fatal("a watch was told twice")
	case <-withdrawn:
		t.Fatal("a withdrawn watch was told")
	default:
	}
}
