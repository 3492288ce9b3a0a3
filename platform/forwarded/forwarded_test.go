package forwarded_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/docker-examples/stack/platform/env"
	"github.com/docker-examples/stack/platform/forwarded"
)

func mustTrusted(t *testing.T, list string) *forwarded.Resolver {
	t.Helper()
	p, err := env.ParsePrefixes(list)
	if err != nil {
		t.Fatal(err)
	}
	return forwarded.New(p)
}

func TestClientIP(t *testing.T) {
	r := mustTrusted(t, "10.0.0.0/8, 192.168.1.1, fd00::/8")
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"untrusted peer ignores headers", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"untrusted peer without header", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"trusted peer, no header", "10.0.0.2:5000", nil, "10.0.0.2"},
		{"trusted peer, one hop", "10.0.0.2:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client spoofs the left of the list", "10.0.0.2:5000", []string{"1.1.1.1, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops skipped from the right", "10.0.0.2:5000", []string{"198.51.100.1, 10.1.1.1, 192.168.1.1"}, "198.51.100.1"},
		{"several header lines, read in order", "10.0.0.2:5000", []string{"6.6.6.6, 198.51.100.1", "10.1.1.1"}, "198.51.100.1"},
		{"all trusted: leftmost", "10.0.0.2:5000", []string{"10.9.9.9, 10.1.1.1"}, "10.9.9.9"},
		{"garbage stops the walk at the last good hop", "10.0.0.2:5000", []string{"198.51.100.1, unknown, 10.1.1.1"}, "10.1.1.1"},
		{"garbage right away: the peer", "10.0.0.2:5000", []string{"not-an-ip"}, "10.0.0.2"},
		{"empty entry is garbage", "10.0.0.2:5000", []string{"198.51.100.1,,"}, "10.0.0.2"},
		{"ports and brackets", "10.0.0.2:5000", []string{"[2001:db8::7]:443, 10.1.1.1:80"}, "2001:db8::7"},
		{"ipv4 with port", "10.0.0.2:5000", []string{"198.51.100.1:1234"}, "198.51.100.1"},
		{"ipv4-mapped peer is trusted and unmapped", "[::ffff:10.0.0.2]:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"ipv6 trusted peer", "[fd00::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"zoned entry rejected", "10.0.0.2:5000", []string{"fe80::1%eth0"}, "10.0.0.2"},
		{"spaces around entries", "10.0.0.2:5000", []string{"  198.51.100.1 ,  10.1.1.1  "}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := r.ClientIP(req).String(); got != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestNoTrustedProxiesMeansPeer(t *testing.T) {
	var r forwarded.Resolver
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = "127.0.0.1:9"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := r.ClientIP(req).String(); got != "127.0.0.1" {
		t.Errorf("ClientIP = %s, want the peer 127.0.0.1", got)
	}
}

func TestIsHTTPS(t *testing.T) {
	r := mustTrusted(t, "10.0.0.0/8")
	tests := []struct {
		name   string
		remote string
		tls    bool
		proto  []string
		want   bool
	}{
		{"direct tls", "203.0.113.7:1", true, nil, true},
		{"plain, untrusted peer lies", "203.0.113.7:1", false, []string{"https"}, false},
		{"trusted proxy says https", "10.0.0.2:1", false, []string{"HTTPS"}, true},
		{"trusted proxy says http", "10.0.0.2:1", false, []string{"http"}, false},
		{"nearest proxy wins", "10.0.0.2:1", false, []string{"https, http"}, false},
		{"no header", "10.0.0.2:1", false, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tc.remote
			if tc.tls {
				req.TLS = &tls.ConnectionState{}
			}
			for _, v := range tc.proto {
				req.Header.Add("X-Forwarded-Proto", v)
			}
			if got := r.IsHTTPS(req); got != tc.want {
				t.Errorf("IsHTTPS = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzClientIP checks the promises that keep the rate limiter honest for any
// header a client can send: no panic; an untrusted peer is always the answer
// for itself; the answer is the peer or an address really present in the
// header; and it is a trusted proxy only when no untrusted hop was reachable.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1", "198.51.100.1, 10.1.1.1")
	f.Add("10.0.0.2:1", "[2001:db8::1]:80,unknown")
	f.Add("203.0.113.9:1", "1.1.1.1")
	f.Add("[fd00::1]:1", ",,,")
	f.Add("10.0.0.2:1", "::ffff:10.0.0.1 , 300.1.1.1")
	r := mustTrustedF(f, "10.0.0.0/8, fd00::/8")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		got := r.ClientIP(req)
		peer := forwarded.Peer(remote)
		if peer.IsValid() && !r.Trusted(peer) {
			if got != peer {
				t.Fatalf("untrusted peer %s: ClientIP = %s", remote, got)
			}
			return
		}
		if !got.IsValid() {
			return
		}
		found := got == peer
		for _, h := range strings.Split(xff, ",") {
			if a, ok := forwarded.ParseHop(h); ok && a == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("ClientIP = %s, neither the peer %q nor in X-Forwarded-For %q", got, remote, xff)
		}
	})
}

func FuzzParseHop(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "[::1]:80", "::ffff:1.2.3.4", " 1.2.3.4:65535 ", "fe80::1%lo", "[1.2.3.4]", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, ok := forwarded.ParseHop(s)
		if !ok {
			return
		}
		if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
			t.Fatalf("ParseHop(%q) = %v: want a valid, unzoned, unmapped address", s, a)
		}
		if b, ok := forwarded.ParseHop(a.String()); !ok || b != a {
			t.Fatalf("ParseHop(%q) = %v, which does not parse back (%v, %v)", s, a, b, ok)
		}
	})
}

func mustTrustedF(f *testing.F, list string) *forwarded.Resolver {
	p, err := env.ParsePrefixes(list)
	if err != nil {
		f.Fatal(err)
	}
	return forwarded.New(p)
}

func TestPeer(t *testing.T) {
	for in, want := range map[string]netip.Addr{
		"192.0.2.1:80":        netip.MustParseAddr("192.0.2.1"),
		"[2001:db8::1]:443":   netip.MustParseAddr("2001:db8::1"),
		"[::ffff:10.0.0.1]:1": netip.MustParseAddr("10.0.0.1"),
		"[fe80::1%eth0]:1":    netip.MustParseAddr("fe80::1"),
		"192.0.2.1":           netip.MustParseAddr("192.0.2.1"),
		"pipe":                {},
		"":                    {},
		"192.0.2.1:80:80":     {},
	} {
		if got := forwarded.Peer(in); got != want {
			t.Errorf("Peer(%q) = %v, want %v", in, got, want)
		}
	}
}
