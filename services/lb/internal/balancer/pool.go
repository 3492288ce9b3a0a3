package balancer

import (
	"net/http"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/docker-examples/stack/services/lb/internal/config"
)

// Pool is a named, discovery-fed set of backends with a selection policy.
type Pool struct {
	Name   string
	Policy Policy

	// MaxInFlight caps the requests one backend serves at once.
	MaxInFlight int64
	// SlowStart is how long a (re)joining backend takes to reach its full share.
	SlowStart time.Duration
	// OnAdd runs for each new backend before it is published (to set
	// Backend.Data); OnRemove runs after it left the snapshot. Both run on
	// the goroutine calling Update.
	OnAdd, OnRemove func(*Backend)

	snap    atomic.Pointer[[]*Backend]
	changes atomic.Uint64
}

// NewPool returns an empty pool with the policy p.
func NewPool(name string, p config.Policy, maxInFlight int64, slowStart time.Duration) *Pool {
	pool := &Pool{Name: name, Policy: NewPolicy(p), MaxInFlight: maxInFlight, SlowStart: slowStart}
	empty := []*Backend{}
	pool.snap.Store(&empty)
	return pool
}

// Backends is the current snapshot, sorted by address. Callers must not
// modify it.
func (p *Pool) Backends() []*Backend { return *p.snap.Load() }

// Changes counts the updates that changed the set.
func (p *Pool) Changes() uint64 { return p.changes.Load() }

// Update replaces the backend set by addrs (in any order, duplicates
// ignored). Backends whose address stays keep their state; new ones
// start slowly unless the pool was empty. It reports what changed. Update must not be called concurrently with itself.
func (p *Pool) Update(addrs []netip.AddrPort, now time.Time) (added, removed []*Backend) {
	addrs = slices.Clone(addrs)
	slices.SortFunc(addrs, func(a, b netip.AddrPort) int { return a.Compare(b) })
	addrs = slices.Compact(addrs)
	old := p.Backends()
	// Backends found when the pool was empty (the lb starting) are not
	// newcomers: slow start only makes sense next to warm peers.
	warm := len(old) == 0
	next := make([]*Backend, 0, len(addrs))
	i, j := 0, 0
	for i < len(old) || j < len(addrs) {
		switch {
		case j == len(addrs) || (i < len(old) && old[i].Addr.Compare(addrs[j]) < 0):
			removed = append(removed, old[i])
			i++
		case i == len(old) || old[i].Addr.Compare(addrs[j]) > 0:
			b := NewBackend(addrs[j], now)
			if warm {
				b.upSince.Store(0)
			}
			if p.OnAdd != nil {
				p.OnAdd(b)
			}
			added = append(added, b)
			next = append(next, b)
			j++
		default:
			next = append(next, old[i])
			i++
			j++
		}
	}
	if len(added) == 0 && len(removed) == 0 {
		return nil, nil
	}
	p.snap.Store(&next)
	p.changes.Add(1)
	for _, b := range removed {
		b.removed.Store(true)
		if p.OnRemove != nil {
			p.OnRemove(b)
		}
	}
	return added, removed
}

// Filter is what a policy needs besides the request. Tried lists the
// backends this request already failed on; they are never picked again.
type Filter struct {
	Now         int64 // unix nanos
	MaxInFlight int64
	SlowStart   time.Duration
	Tried       []*Backend
	ClientIP    netip.Addr
	// Relaxed ignores health, draining and ejection (but not the in-flight
	// cap): used when no backend is available, as sending to a backend
	// believed unhealthy beats a certain 503.
	Relaxed bool
}

// OK reports whether b may be picked.
func (f Filter) OK(b *Backend) bool {
	for _, t := range f.Tried {
		if t == b {
			return false
		}
	}
	if f.Relaxed {
		return !b.removed.Load() && b.inflight.Load() < f.MaxInFlight
	}
	return b.Available(f.Now, f.MaxInFlight)
}

// Pick chooses a backend for r that is not in tried, or nil when every
// backend is tried, removed or at its in-flight cap. It prefers available
// backends and falls back to unhealthy ones when none is available.
func (p *Pool) Pick(r *http.Request, tried []*Backend, clientIP netip.Addr, now time.Time) *Backend {
	bs := p.Backends()
	if len(bs) == 0 {
		return nil
	}
	f := Filter{Now: now.UnixNano(), MaxInFlight: p.MaxInFlight, SlowStart: p.SlowStart, Tried: tried, ClientIP: clientIP}
	if b := p.Policy.Pick(r, bs, f); b != nil {
		return b
	}
	f.Relaxed = true
	return p.Policy.Pick(r, bs, f)
}
