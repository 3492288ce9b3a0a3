// Package discovery finds a pool's backends by resolving its upstream
// names in DNS, again and again, the way Docker users need: a compose
// service name answers with all its containers, Swarm's tasks.<service>
// does the same for a service's tasks and is preferred when it resolves.
//
// Every round the answers of all upstreams are merged, filtered by an
// allow-list of networks, sorted, and handed to a Sink only when the set
// changed. An empty answer or a lookup error keeps the last good set for
// a while, so a DNS hiccup during a rolling update does not empty a pool.
package discovery

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/docker-examples/stack/services/lb/internal/config"
)

// Resolver is the part of *net.Resolver discovery uses; tests give a fake.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Sink receives each changed, sorted address set and reports how many
// backends it added and removed.
type Sink func(addrs []netip.AddrPort, now time.Time) (added, removed int)

// Watcher resolves upstreams periodically for one pool. Create it with
// New; Run blocks until its context ends. Resolve runs one round and is
// what Run calls every Interval.
type Watcher struct {
	Pool      string
	Upstreams []config.Upstream
	Allowed   []netip.Prefix
	Resolver  Resolver
	Sink      Sink
	Log       *slog.Logger
	Interval  time.Duration
	KeepStale time.Duration
	// SwarmTasks tries tasks.<name> first. When it does not resolve, it is
	// tried again only every tasksRetry rounds, not to double DNS traffic.
	SwarmTasks bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnChange, when set, is told the size of each change.
	OnChange func(added, removed int)

	current   []netip.AddrPort
	lastGood  time.Time
	tasksMiss map[string]int // rounds left before tasks.<name> is tried again
	tasksHit  map[string]bool
}

const tasksRetry = 30

// Run resolves every Interval (with a little jitter) until ctx ends. The
// first round runs at once.
func (w *Watcher) Run(ctx context.Context) {
	for {
		w.Resolve(ctx)
		d := w.Interval + rand.N(w.Interval/10+1)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Resolve runs one discovery round and reports the set now in force.
func (w *Watcher) Resolve(ctx context.Context) []netip.AddrPort {
	now := w.now()
	if w.tasksMiss == nil {
		w.tasksMiss = map[string]int{}
		w.tasksHit = map[string]bool{}
	}
	var found []netip.AddrPort
	failed := false
	for _, u := range w.Upstreams {
		addrs, err := w.lookup(ctx, u)
		if err != nil {
			failed = true
			w.Log.Debug("discovery lookup failed", "pool", w.Pool, "upstream", u.String(), "err", err)
			continue
		}
		for _, a := range addrs {
			a = a.Unmap()
			if w.allowed(a) {
				found = append(found, netip.AddrPortFrom(a, u.Port))
			} else {
				w.Log.Warn("discovery ignored an address outside UPSTREAM_CIDRS", "pool", w.Pool, "upstream", u.String(), "addr", a.String())
			}
		}
	}
	slices.SortFunc(found, func(a, b netip.AddrPort) int { return a.Compare(b) })
	found = slices.Compact(found)

	if len(found) == 0 || failed && len(found) < len(w.current) {
		// Keep the last good set for a while: DNS answers are briefly
		// empty while Docker replaces containers.
		if len(w.current) > 0 && now.Sub(w.lastGood) < w.KeepStale {
			return w.current
		}
		if len(found) == 0 && len(w.current) > 0 {
			w.Log.Warn("discovery found no backend, pool is now empty", "pool", w.Pool, "stale_for", now.Sub(w.lastGood).String())
		}
	}
	if len(found) > 0 && !failed {
		w.lastGood = now
	}
	if slices.Equal(found, w.current) {
		return w.current
	}
	w.current = found
	added, removed := w.Sink(found, now)
	if added+removed > 0 {
		w.Log.Info("discovery changed pool", "pool", w.Pool, "backends", addrStrings(found), "added", added, "removed", removed)
		if w.OnChange != nil {
			w.OnChange(added, removed)
		}
	}
	return w.current
}

func (w *Watcher) lookup(ctx context.Context, u config.Upstream) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(u.Host); err == nil {
		return []netip.Addr{a}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, max(w.Interval, time.Second))
	defer cancel()
	if w.SwarmTasks && !isTasksName(u.Host) {
		if w.tasksHit[u.Host] || w.tasksMiss[u.Host] <= 0 {
			addrs, err := w.Resolver.LookupNetIP(ctx, "ip", "tasks."+u.Host)
			if err == nil && len(addrs) > 0 {
				if !w.tasksHit[u.Host] {
					w.Log.Info("discovery uses swarm task records", "pool", w.Pool, "name", "tasks."+u.Host)
				}
				w.tasksHit[u.Host] = true
				return addrs, nil
			}
			if w.tasksHit[u.Host] && !isNotFound(err) {
				return nil, err // a transient failure of a name that worked
			}
			w.tasksHit[u.Host] = false
			w.tasksMiss[u.Host] = tasksRetry
		} else {
			w.tasksMiss[u.Host]--
		}
	}
	return w.Resolver.LookupNetIP(ctx, "ip", u.Host)
}

func (w *Watcher) allowed(a netip.Addr) bool {
	for _, p := range w.Allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (w *Watcher) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

func isTasksName(h string) bool { return len(h) > 6 && h[:6] == "tasks." }

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

func addrStrings(as []netip.AddrPort) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Addr().String() + ":" + strconv.Itoa(int(a.Port()))
	}
	return out
}
