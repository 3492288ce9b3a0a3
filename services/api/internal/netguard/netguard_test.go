package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCheck(t *testing.T) {
	g := &Guard{
		Allow: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")},
		Own:   []netip.Prefix{netip.MustParsePrefix("198.51.99.0/24")},
	}
	for addr, refused := range map[string]bool{
		"127.0.0.1": true, "::1": true, "169.254.169.254": true, "fe80::1": true, "10.1.2.3": true,
		"172.16.5.4": true, "192.168.1.1": true, "fd00::1": true, "::ffff:127.0.0.1": true, "0.0.0.0": true,
		"100.64.0.1": true, "198.51.99.7": true, // the stack's own network
		"10.9.1.1":      false, // LINK_CHECK_ALLOW
		"93.184.216.34": false,
		"2606:4700::1":  false,
	} {
		err := g.Check(netip.MustParseAddr(addr))
		if got := errors.Is(err, ErrRefused); got != refused {
			t.Errorf("Check(%s) refused = %v, want %v (%v)", addr, got, refused, err)
		}
	}
}
