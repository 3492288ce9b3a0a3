package forwarded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/env"
)

// ParseTrustedList parses TRUSTED_PROXIES: CIDR prefixes and single
// addresses (as env.ParsePrefixes reads them) and host names ("frontend, lb", "tasks.lb"), comma-separated. Names are
// what a Compose or Swarm network answers for a service, so the api can
// trust exactly its own proxies' containers rather than a whole private
// range that any neighbour on the network may hold. The error names the
// bad entry.
func ParseTrustedList(list string) ([]netip.Prefix, []string, error) {
	var prefixes []netip.Prefix
	var names []string
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if isHostName(f) {
			names = append(names, strings.ToLower(f))
			continue
		}
		p, err := env.ParsePrefixes(f)
		if err != nil {
			return nil, nil, err
		}
		prefixes = append(prefixes, p...)
	}
	return prefixes, names, nil
}

// isHostName reports whether s is a DNS host name with at least one letter
// (so "10.0.0.1" and "::1" are addresses, not names).
func isHostName(s string) bool {
	if len(s) > 253 || strings.ContainsAny(s, "/:") {
		return false
	}
	letter := false
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
				letter = true
			case c >= '0' && c <= '9', c == '-':
			default:
				return false
			}
		}
	}
	return letter
}

// LookupFunc resolves a host name to its addresses, as
// net.DefaultResolver.LookupNetIP(ctx, "ip", host) does.
type LookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// Watch makes r trust the current addresses of names, resolving them with
// lookup once before it returns and then every interval until ctx ends, in a
// goroutine of its own. A name that fails to resolve keeps its last known
// addresses (a proxy being restarted is not forgotten), and is logged once
// per failure streak. With no names it does nothing.
func (r *Resolver) Watch(ctx context.Context, names []string, interval time.Duration, lookup LookupFunc, log *slog.Logger) {
	if len(names) == 0 {
		return
	}
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	last := map[string][]netip.Addr{}
	failing := map[string]bool{}
	refresh := func() {
		for _, n := range names {
			lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			addrs, err := lookup(lctx, n)
			cancel()
			if err != nil {
				if !failing[n] && log != nil {
					log.Warn("trusted proxy name does not resolve; keeping its last addresses",
						"name", n, "error", err.Error())
				}
				failing[n] = true
				continue
			}
			failing[n] = false
			for i := range addrs {
				addrs[i] = addrs[i].Unmap().WithZone("")
			}
			last[n] = addrs
		}
		var all []netip.Addr
		for _, addrs := range last {
			all = append(all, addrs...)
		}
		slices.SortFunc(all, func(a, b netip.Addr) int { return a.Compare(b) })
		all = slices.Compact(all)
		r.named.Store(&all)
	}
	refresh()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				refresh()
			}
		}
	}()
}

// String lists what r trusts, for the start-up log.
func (r *Resolver) String() string {
	parts := make([]string, 0, len(r.trusted))
	for _, p := range r.trusted {
		parts = append(parts, p.String())
	}
	if named := r.named.Load(); named != nil {
		for _, a := range *named {
			parts = append(parts, a.String())
		}
	}
	return fmt.Sprintf("[%s]", strings.Join(parts, " "))
}
