package forwarded

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTrustedList(t *testing.T) {
	prefixes, names, err := ParseTrustedList("frontend, LB ,tasks.lb, 10.1.2.3, 192.168.0.0/16, ::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/32"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("::1/128"),
	}
	if diff := cmp.Diff(want, prefixes, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("prefixes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"frontend", "lb", "tasks.lb"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"10.0.0.0/33", "front end", "-lb", "lb..x", "http://lb"} {
		if _, _, err := ParseTrustedList(bad); err == nil {
			t.Errorf("ParseTrustedList(%q) = nil error", bad)
		}
	}
}

// fakeDNS answers like Docker's embedded DNS: a service name has the
// addresses of its containers, which change when a container is replaced.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	calls   chan string
}

func (f *fakeDNS) lookup(_ context.Context, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	a, ok := f.answers[host]
	f.mu.Unlock()
	defer func() {
		select {
		case f.calls <- host:
		default:
		}
	}()
	if !ok {
		return nil, errors.New("no such host")
	}
	return append([]netip.Addr(nil), a...), nil
}

func (f *fakeDNS) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if addrs == nil {
		delete(f.answers, host)
		return
	}
	f.answers[host] = nil
	for _, a := range addrs {
		f.answers[host] = append(f.answers[host], netip.MustParseAddr(a))
	}
}

// Only the named proxies' containers are trusted, not their neighbours on
// the same private network; a replaced container's new address is trusted
// after the next resolution, and a name that stops resolving keeps its
// last addresses.
func TestWatchTrustsExactlyTheNamedProxies(t *testing.T) {
	dns := &fakeDNS{answers: map[string][]netip.Addr{}, calls: make(chan string, 1)}
	dns.set("frontend", "172.18.0.5")
	dns.set("lb", "172.18.0.6", "172.18.0.7")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := New(nil)
	r.Watch(ctx, []string{"frontend", "lb"}, time.Millisecond, dns.lookup, nil)

	client := func(peer string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer + ":40000"
		req.Header.Set("X-Forwarded-For", "203.0.113.7")
		return r.ClientIP(req).String()
	}
	for peer, want := range map[string]string{
		"172.18.0.5": "203.0.113.7", // the frontend names the browser
		"172.18.0.7": "203.0.113.7", // an lb replica
		"172.18.0.9": "172.18.0.9",  // a neighbour on the same network: itself
		"10.0.0.1":   "10.0.0.1",
	} {
		if got := client(peer); got != want {
			t.Errorf("client of a request from %s = %s, want %s", peer, got, want)
		}
	}

	// The frontend is replaced: its new address is trusted once resolved,
	// the old one is not.
	dns.set("frontend", "172.18.0.8")
	waitFor(t, func() bool { return client("172.18.0.8") == "203.0.113.7" })
	if got := client("172.18.0.5"); got != "172.18.0.5" {
		t.Errorf("the replaced frontend's old address is still trusted: client %s", got)
	}
	// DNS fails for the lb: its addresses are kept.
	dns.set("lb")
	for range 3 {
		<-dns.calls
	}
	if got := client("172.18.0.6"); got != "203.0.113.7" {
		t.Errorf("after a failed lookup the lb is no longer trusted: client %s", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
