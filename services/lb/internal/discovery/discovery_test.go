package discovery

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/lb/internal/config"
)

// fakeResolver answers from a table a test edits between rounds; a
// missing name is NXDOMAIN.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string
	errs    map[string]error
	asked   []string
}

func (f *fakeResolver) set(name string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ips == nil {
		delete(f.answers, name)
		return
	}
	f.answers[name] = ips
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, host)
	if err := f.errs[host]; err != nil {
		return nil, err
	}
	ips, ok := f.answers[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

type recordingSink struct {
	updates [][]string
}

func (s *recordingSink) sink(addrs []netip.AddrPort, _ time.Time) (int, int) {
	var out []string
	for _, a := range addrs {
		out = append(out, a.String())
	}
	s.updates = append(s.updates, out)
	return 1, 0
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newWatcher(r Resolver, sink *recordingSink, c *clock, swarm bool, ups ...config.Upstream) *Watcher {
	return &Watcher{
		Pool: "api", Upstreams: ups, Allowed: config.DefaultUpstreamCIDRs, Resolver: r, Sink: sink.sink,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Interval: time.Second, KeepStale: 30 * time.Second,
		SwarmTasks: swarm, Now: c.now,
	}
}

var api = config.Upstream{Host: "api", Port: 8000}

func strs(as []netip.AddrPort) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func TestScaleUpAndDownFollowDNS(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{}}
	sink := &recordingSink{}
	c := &clock{t: time.Unix(1000, 0)}
	w := newWatcher(r, sink, c, false, api)
	ctx := context.Background()

	r.set("api", "172.18.0.4", "172.18.0.2", "172.18.0.3")
	w.Resolve(ctx)
	r.set("api", "172.18.0.3", "172.18.0.2", "172.18.0.4") // same set, other order
	w.Resolve(ctx)
	r.set("api", "172.18.0.2", "172.18.0.3", "172.18.0.4", "172.18.0.5", "172.18.0.6") // --scale api=5
	w.Resolve(ctx)
	r.set("api", "172.18.0.5")
	w.Resolve(ctx)

	want := [][]string{
		{"172.18.0.2:8000", "172.18.0.3:8000", "172.18.0.4:8000"},
		{"172.18.0.2:8000", "172.18.0.3:8000", "172.18.0.4:8000", "172.18.0.5:8000", "172.18.0.6:8000"},
		{"172.18.0.5:8000"},
	}
	if diff := cmp.Diff(want, sink.updates); diff != "" {
		t.Errorf("updates (-want +got):\n%s", diff)
	}
}

func TestKeepsLastGoodSetForAWhile(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{}}
	sink := &recordingSink{}
	c := &clock{t: time.Unix(1000, 0)}
	w := newWatcher(r, sink, c, false, api)
	ctx := context.Background()

	r.set("api", "172.18.0.2", "172.18.0.3")
	w.Resolve(ctx)
	r.set("api") // NXDOMAIN: every container restarting
	c.t = c.t.Add(10 * time.Second)
	if got := strs(w.Resolve(ctx)); len(got) != 2 {
		t.Errorf("after NXDOMAIN within KeepStale: %v, want the last good 2", got)
	}
	r.set("api", []string{}...) // empty answer
	r.answers["api"] = []string{}
	c.t = c.t.Add(10 * time.Second)
	if got := strs(w.Resolve(ctx)); len(got) != 2 {
		t.Errorf("after an empty answer within KeepStale: %v, want the last good 2", got)
	}
	c.t = c.t.Add(15 * time.Second) // 35s since the last good answer
	if got := w.Resolve(ctx); len(got) != 0 {
		t.Errorf("after KeepStale: %v, want empty", got)
	}
	if n := len(sink.updates); n != 2 || len(sink.updates[1]) != 0 {
		t.Errorf("updates %v, want the set then the empty set", sink.updates)
	}
}

func TestOnlyAllowedNetworks(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{"api": {"172.18.0.2", "8.8.8.8", "::ffff:10.0.0.9", "2001:db8::1"}}}
	sink := &recordingSink{}
	w := newWatcher(r, sink, &clock{t: time.Unix(1000, 0)}, false, api)
	got := strs(w.Resolve(context.Background()))
	if diff := cmp.Diff([]string{"10.0.0.9:8000", "172.18.0.2:8000"}, got); diff != "" {
		t.Errorf("accepted (-want +got):\n%s", diff)
	}
}

func TestPrefersSwarmTasksRecords(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{
		"api":       {"10.0.1.2"}, // the service's virtual IP
		"tasks.api": {"10.0.1.5", "10.0.1.6", "10.0.1.7"},
	}}
	sink := &recordingSink{}
	w := newWatcher(r, sink, &clock{t: time.Unix(1000, 0)}, true, api)
	got := strs(w.Resolve(context.Background()))
	if diff := cmp.Diff([]string{"10.0.1.5:8000", "10.0.1.6:8000", "10.0.1.7:8000"}, got); diff != "" {
		t.Errorf("swarm set (-want +got):\n%s", diff)
	}
}

func TestTasksNameIsNotAskedEveryRoundWhenAbsent(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{"api": {"172.18.0.2"}}}
	w := newWatcher(r, &recordingSink{}, &clock{t: time.Unix(1000, 0)}, true, api)
	for range 10 {
		w.Resolve(context.Background())
	}
	n := 0
	for _, h := range r.asked {
		if h == "tasks.api" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("tasks.api asked %d times in 10 rounds, want 1 (compose has no such name)", n)
	}
}

func TestAddressUpstreamNeedsNoDNS(t *testing.T) {
	r := &fakeResolver{answers: map[string][]string{}}
	w := newWatcher(r, &recordingSink{}, &clock{t: time.Unix(1000, 0)}, true, config.Upstream{Host: "127.0.0.1", Port: 9})
	got := strs(w.Resolve(context.Background()))
	if diff := cmp.Diff([]string{"127.0.0.1:9"}, got); diff != "" || len(r.asked) != 0 {
		t.Errorf("got %v asking %v, want the address and no lookup", got, r.asked)
	}
}
