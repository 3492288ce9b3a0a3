// Package forwarded finds a request's real client address and scheme behind
// reverse proxies, believing X-Forwarded-For and X-Forwarded-Proto only when
// they come from a proxy the operator trusts (TRUSTED_PROXIES). It is the
// stack's one implementation: the lb and the api both take client addresses
// from it (the trusted prefixes are parsed by platform/env.ParsePrefixes).
//
// A client can put anything in X-Forwarded-For; only the entries appended by
// trusted proxies are facts. So the list is read from the right: every hop
// that is a trusted proxy is skipped, and the first address that is not is
// the client. A request whose direct peer is not trusted is answered with the
// peer itself, whatever its headers say. This is what keeps a client from
// spoofing its way past a per-IP rate limit.
package forwarded

import (
	"net/http"
	"net/netip"
	"strings"
)

// Resolver answers who the client is. The zero value trusts no proxy.
// It is safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
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
	return false
}

// ClientIP returns the address of the client that made req: the direct peer
// when it is not a trusted proxy, else the rightmost X-Forwarded-For entry
// that is not a trusted proxy (see Resolve). The result is invalid only when
// req.RemoteAddr itself is not an address.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	client, _ := r.Resolve(Peer(req.RemoteAddr), req.Header["X-Forwarded-For"])
	return client
}

// Resolve returns the client behind peer, given the X-Forwarded-For header
// lines xff, and whether peer is a trusted proxy (whose forwarding headers
// may be kept). An untrusted or invalid peer is its own client. Behind a
// trusted peer the list is read from the right and the first entry that is
// not a trusted proxy is the client; when every entry is trusted it is the
// leftmost one; when an entry cannot be parsed, the walk stops and the last
// good address (a trusted proxy) is the answer, so garbage never becomes a
// key. IPv4-mapped IPv6 addresses are unmapped. It does not allocate.
func (r *Resolver) Resolve(peer netip.Addr, xff []string) (client netip.Addr, trusted bool) {
	if !peer.IsValid() || !r.Trusted(peer) {
		return peer, false
	}
	client = peer
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			var hop string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				hop, list = list[j+1:], list[:j]
			} else {
				hop, list = list, ""
			}
			a, ok := ParseHop(hop)
			if !ok {
				return client, true
			}
			client = a
			if !r.Trusted(a) {
				return a, true
			}
		}
	}
	return client, true
}

// IsHTTPS reports whether the client reached us over https: the connection
// is TLS, or the direct peer is a trusted proxy whose X-Forwarded-Proto (its
// rightmost value, the one the nearest proxy set) is "https".
func (r *Resolver) IsHTTPS(req *http.Request) bool {
	if req.TLS != nil {
		return true
	}
	peer := Peer(req.RemoteAddr)
	if !peer.IsValid() || !r.Trusted(peer) {
		return false
	}
	vs := req.Header["X-Forwarded-Proto"]
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

// Peer parses http.Request.RemoteAddr: "ip:port" as net/http sets it, or a
// bare address. Zones are dropped and IPv4-mapped addresses unmapped;
// anything else is an invalid address.
func Peer(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().WithZone("").Unmap()
	}
	if a, err := netip.ParseAddr(remote); err == nil {
		return a.WithZone("").Unmap()
	}
	return netip.Addr{}
}
