package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/forwarded"
)

// FuzzForwardedHeaders: whatever a client sends in the headers the lb
// rewrites, the backend receives one well-formed request whose
// X-Forwarded-For ends with the real peer, which contains nothing else
// from an untrusted peer, and whose request id is a sane token.
func FuzzForwardedHeaders(f *testing.F) {
	f.Add("203.0.113.7:5555", "1.2.3.4", "https", "evil.test", "abc")
	f.Add("10.0.0.2:1", "198.51.100.1, 10.0.0.3", "http", "shop.test", "")
	f.Add("[2001:db8::1]:443", "", "", "", "x y")
	f.Add("10.9.9.9:1", "garbage,, 10.0.0.1", "h", "a:b", strings.Repeat("z", 200))
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, remote, xff, proto, host, id string) {
		for _, v := range []string{xff, proto, host, id} {
			if !validFieldValue(v) {
				return // net/http's server rejects such requests before any handler
			}
		}
		r, err := http.NewRequest("GET", "http://example.test/p", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		r.Header.Set("X-Request-ID", id)
		fwd := forwardedFor(r, forwarded.New(trusted))
		rid := correlation.From(r.Header)
		var buf bytes.Buffer
		bw := bufio.NewWriter(&buf)
		writeRequestHead(bw, r, "/p", &fwd, rid, 0, false)
		bw.Flush()
		got, err := http.ReadRequest(bufio.NewReader(&buf))
		if err != nil {
			t.Fatalf("backend cannot parse the request: %v\n%s", err, buf.String())
		}
		if n := len(got.Header["X-Forwarded-For"]); n != 1 {
			t.Fatalf("%d X-Forwarded-For lines", n)
		}
		out := got.Header.Get("X-Forwarded-For")
		peer := fwd.Peer.String()
		if !fwd.Peer.IsValid() {
			peer = ""
		}
		if !strings.HasSuffix(out, peer) {
			t.Fatalf("X-Forwarded-For %q does not end with the peer %q", out, peer)
		}
		if !fwd.Trusted && out != peer {
			t.Fatalf("untrusted peer: X-Forwarded-For %q, want just %q", out, peer)
		}
		if !correlation.Valid(got.Header.Get("X-Request-ID")) || got.Header.Get("X-Correlation-ID") != got.Header.Get("X-Request-ID") {
			t.Fatalf("request ids %q / %q", got.Header.Get("X-Request-ID"), got.Header.Get("X-Correlation-ID"))
		}
		if !fwd.Trusted && (got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != "example.test") {
			t.Fatalf("untrusted peer's proto/host kept: %q %q", got.Header.Get("X-Forwarded-Proto"), got.Header.Get("X-Forwarded-Host"))
		}
	})
}

// validFieldValue is net/http's rule for header values: no control
// characters but tab.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
