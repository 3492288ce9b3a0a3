// Package forwarded finds a request's real client address and scheme behind
// reverse proxies, believing X-Forwarded-For and X-Forwarded-Proto only when
// they come from a proxy the operator trusts (TRUSTED_PROXIES).
//
// A client can put anything in X-Forwarded-For; only the entries appended by
// trusted proxies are facts. So the list is read from the right: every hop
// that is a trusted proxy is skipped, and the first address that is not is
// the client. A request whose direct peer is not trusted is answered with the
// peer itself, whatever its headers say. This is what keeps a client from
// spoofing its way past a per-IP rate limit.
package forwarded

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
)

// ParseTrusted parses a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 172.16.0.0/12, 127.0.0.1"), as TRUSTED_PROXIES
// holds it. An empty list trusts no one. The error names the bad entry.
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not a CIDR prefix or an IP address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Resolver answers who the client is. The zero value trusts no proxy.
// It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
	// named holds the current addresses of the proxies named by host name
	// (Watch keeps it fresh); nil until the first resolution.
	named atomic.Pointer[[]netip.Addr]
}

// New returns a Resolver that believes forwarding headers from peers inside
// any of the trusted prefixes.
func New(trusted []netip.Prefix) *Resolver {
	return &Resolver{trusted: append([]netip.Prefix(nil), trusted...)}
}

// Trusted reports whether a is one of the trusted proxies.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	if named := r.named.Load(); named != nil {
		for _, n := range *named {
			if n == a {
				return true
			}
		}
	}
	return false
}

// ClientIP returns the address of the client that made req: the direct peer
// when it is not a trusted proxy, else the rightmost X-Forwarded-For entry
// that is not a trusted proxy. When every entry is trusted it is the leftmost
// one; when an entry cannot be parsed, the walk stops and the last good
// address (a trusted proxy) is the answer, so garbage never becomes a key.
// IPv4-mapped IPv6 addresses are unmapped. The result is invalid only when
// req.RemoteAddr itself is not an address.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() || !r.Trusted(peer) {
		return peer
	}
	hops := req.Header.Values("X-Forwarded-For")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		list := hops[i]
		for list != "" {
			var hop string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				hop, list = list[j+1:], list[:j]
			} else {
				hop, list = list, ""
			}
			a, ok := ParseHop(hop)
			if !ok {
				return client
			}
			client = a
			if !r.Trusted(a) {
				return a
			}
		}
	}
	return client
}

// IsHTTPS reports whether the client reached us over https: the connection
// is TLS, or the direct peer is a trusted proxy whose X-Forwarded-Proto (its
// rightmost value, the one the nearest proxy set) is "https".
func (r *Resolver) IsHTTPS(req *http.Request) bool {
	if req.TLS != nil {
		return true
	}
	peer := peerAddr(req.RemoteAddr)
	if !peer.IsValid() || !r.Trusted(peer) {
		return false
	}
	vs := req.Header.Values("X-Forwarded-Proto")
	if len(vs) == 0 {
		return false
	}
	v := vs[len(vs)-1]
	if j := strings.LastIndexByte(v, ','); j >= 0 {
		v = v[j+1:]
	}
	return strings.EqualFold(strings.TrimSpace(v), "https")
}

// ParseHop parses one X-Forwarded-For entry: an IPv4 or IPv6 address,
// optionally bracketed and with a port ("192.0.2.1", "192.0.2.1:8080",
// "2001:db8::1", "[2001:db8::1]:443"), surrounded by optional spaces.
// Zoned addresses and anything else (including "unknown" and obfuscated
// identifiers) are rejected.
func ParseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if s[0] == '[' && s[len(s)-1] == ']' {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || a.Zone() != "" || !a.Is6() {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Addr().Zone() != "" {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// peerAddr parses http.Request.RemoteAddr ("ip:port"); net/http always
// sets it so. Anything else is an invalid address.
func peerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().WithZone("").Unmap()
}
