// Package netguard keeps outbound fetches of user-typed targets (image
// references, documentation links) out of the stack's own networks. The
// check runs on the address actually dialled (a net.Dialer Control hook),
// after DNS resolution and for every connection a redirect opens, so a
// name that resolves to a private address, or a redirect to one, is
// refused like a literal address.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrRefused is wrapped by every refusal, so callers can tell "the stack
// will not fetch this" from "the target is broken".
var ErrRefused = errors.New("target refused")

// blocked are the ranges no user-typed target may reach: loopback,
// "this network", link-local (cloud metadata lives there), RFC 1918,
// carrier-grade NAT, benchmarking, unique-local, multicast and the other
// special-purpose ranges.
var blocked = mustPrefixes(
	"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
	"172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15",
	"198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
	"::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "100::/64", "2001:db8::/32",
	"fc00::/7", "fe80::/10", "ff00::/8",
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// Guard decides which addresses may be dialled. The zero value refuses
// the blocked ranges only. It is safe for concurrent use once built.
type Guard struct {
	// Allow lists prefixes permitted even though they are blocked or
	// own (LINK_CHECK_ALLOW): an operator's explicit word wins.
	Allow []netip.Prefix
	// Own are the stack's own networks (this host's interface networks),
	// refused even when they are public addresses.
	Own []netip.Prefix
}

// OwnNetworks returns the networks of this host's interfaces: the stack's
// own networks as this replica sees them.
func OwnNetworks() []netip.Prefix {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ones, _ := ipn.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones).Masked())
	}
	return out
}

// Check returns nil when addr may be dialled, else an error wrapping
// ErrRefused.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap()
	if addr.Zone() != "" {
		addr = addr.WithZone("")
	}
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, p := range g.Own {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is on the stack's own network", ErrRefused, addr)
		}
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return fmt.Errorf("%w: %s is a loopback, link-local or private address", ErrRefused, addr)
		}
	}
	return nil
}

// Control is a net.Dialer Control hook: it sees the resolved address of
// every connection attempt.
func (g *Guard) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse dialled address %q", ErrRefused, address)
	}
	return g.Check(ap.Addr())
}

// Dialer returns a dialer whose connections are checked by g.
func (g *Guard) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: g.Control}
}

// DialContext dials through a checked dialer.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return g.Dialer(10*time.Second).DialContext(ctx, network, address)
}
