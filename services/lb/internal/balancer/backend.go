// Package balancer holds pools of backends and the policies that pick one
// backend per request.
//
// A Pool's backend set is an immutable snapshot swapped atomically by
// discovery (Pool.Update); a Backend keeps its state (health, ejection,
// in-flight count) across snapshots as long as its address stays. Every
// method is safe for concurrent use and Pick does not allocate.
package balancer

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is one address of a pool and its live state.
type Backend struct {
	Addr netip.AddrPort
	// HostPort is Addr as "host:port", computed once for dialing and logs.
	HostPort string
	// ID is a short stable token for Addr (used in cookies), so the
	// backend's address is never shown to clients.
	ID string

	inflight atomic.Int64
	requests atomic.Uint64

	down     atomic.Bool  // failed active health checks
	draining atomic.Bool  // its health check answered 503
	removed  atomic.Bool  // no longer in discovery's answer
	ejectEnd atomic.Int64 // unix nanos until which passive health ejects it
	upSince  atomic.Int64 // unix nanos when it (re)joined, for slow start

	keyHash uint64 // for rendezvous hashing

	// lost ends each time b is marked down or ejected (and is replaced).
	lost atomic.Pointer[lostSignal]
	// hooks are told the next time it ends (Watch).
	hooksMu sync.Mutex
	hooks   map[LostHook]struct{}

	// passive health state
	failures  atomic.Int32
	ejections atomic.Int32

	// Data is for the owner of the pool (the proxy keeps its connection
	// pool and metrics here). Set once by Pool's NewData hook before the
	// backend is published.
	Data any
}

// NewBackend returns a healthy backend for addr that joined at now.
func NewBackend(addr netip.AddrPort, now time.Time) *Backend {
	b := &Backend{Addr: addr, HostPort: addr.String(), ID: idFor(addr)}
	b.keyHash = mix(hashString(b.HostPort))
	b.lost.Store(newLostSignal())
	b.upSince.Store(now.UnixNano())
	return b
}

// InFlight is the number of requests being served by b.
func (b *Backend) InFlight() int64 { return b.inflight.Load() }

// Acquire counts a request against b; call Release when it ends.
func (b *Backend) Acquire() { b.inflight.Add(1); b.requests.Add(1) }

// Release ends a request counted by Acquire.
func (b *Backend) Release() { b.inflight.Add(-1) }

// Requests is the number of requests sent to b so far.
func (b *Backend) Requests() uint64 { return b.requests.Load() }

// Down reports whether active health checks hold b down.
func (b *Backend) Down() bool { return b.down.Load() }

// Draining reports whether b asked to be drained (its health check answered 503).
func (b *Backend) Draining() bool { return b.draining.Load() }

// Removed reports whether discovery no longer lists b.
func (b *Backend) Removed() bool { return b.removed.Load() }

// EjectedUntil is the end of b's passive ejection (zero when never ejected).
func (b *Backend) EjectedUntil() time.Time {
	n := b.ejectEnd.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetDown records the verdict of active health checks. Going down ends
// Lost's context; coming back up starts slow start and forgets past
// ejections.
func (b *Backend) SetDown(down bool, now time.Time) {
	was := b.down.Swap(down)
	switch {
	case was && !down:
		b.upSince.Store(now.UnixNano())
		b.ejections.Store(0)
		b.failures.Store(0)
		b.ejectEnd.Store(0)
	case !was && down:
		b.markLost()
	}
}

// lostSignal is one generation of Lost's context.
type lostSignal struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newLostSignal() *lostSignal {
	ctx, cancel := context.WithCancel(context.Background())
	return &lostSignal{ctx, cancel}
}

// Lost returns a context that ends the next time b is marked down by its
// health checks or ejected by passive health. Requests in flight to b
// watch it to give up on a backend that stopped answering (a frozen
// machine keeps its connections open and never answers) instead of
// waiting for their timeout. Draining and leaving the pool do not end it:
// requests on a draining backend finish.
func (b *Backend) Lost() context.Context { return b.lost.Load().ctx }

// LostHook is told when the Backend it watches is lost (see Watch).
type LostHook interface{ BackendLost() }

// Watch calls h.BackendLost, in a goroutine of its own, the next time b
// is lost (as Lost's context ends), unless Unwatch comes first. It is
// what context.AfterFunc(b.Lost(), ...) does, without its allocations,
// for the watch every request in flight keeps on its backend. Safe for
// concurrent use.
func (b *Backend) Watch(h LostHook) {
	b.hooksMu.Lock()
	if b.hooks == nil {
		b.hooks = map[LostHook]struct{}{}
	}
	b.hooks[h] = struct{}{}
	b.hooksMu.Unlock()
}

// Unwatch undoes Watch. A BackendLost already started may still be running
// (or about to run) when it returns.
func (b *Backend) Unwatch(h LostHook) {
	b.hooksMu.Lock()
	delete(b.hooks, h)
	b.hooksMu.Unlock()
}

// markLost ends the current Lost context and starts the next one, and
// tells the hooks watching.
func (b *Backend) markLost() {
	b.lost.Swap(newLostSignal()).cancel()
	b.hooksMu.Lock()
	hooks := make([]LostHook, 0, len(b.hooks))
	for h := range b.hooks {
		hooks = append(hooks, h)
	}
	clear(b.hooks)
	b.hooksMu.Unlock()
	for _, h := range hooks {
		go h.BackendLost()
	}
}

// SetDraining marks b as draining (no new requests) or not.
func (b *Backend) SetDraining(d bool, now time.Time) {
	if b.draining.Swap(d) && !d {
		b.upSince.Store(now.UnixNano())
	}
}

// Available reports whether b may take a new request at now: listed, up,
// not draining, not ejected, and under maxInFlight.
func (b *Backend) Available(now int64, maxInFlight int64) bool {
	return !b.down.Load() && !b.draining.Load() && !b.removed.Load() &&
		now >= b.ejectEnd.Load() && b.inflight.Load() < maxInFlight
}

// Weight is b's share during slow start, in (0, 1]: it grows linearly
// from 0.1 to 1 over window after b (re)joined.
func (b *Backend) Weight(now int64, window time.Duration) float64 {
	if window <= 0 {
		return 1
	}
	age := now - b.upSince.Load()
	if age >= int64(window) || age < 0 {
		return 1
	}
	return 0.1 + 0.9*float64(age)/float64(window)
}

// Ejector turns consecutive failures into ejections with exponential
// backoff (passive health checking).
type Ejector struct {
	After int           // consecutive failures that eject
	Base  time.Duration // first ejection, doubled each time
	Max   time.Duration // longest ejection
}

// Failure records a connect error or 5xx from b. It reports the ejection
// length when this failure ejected b, else 0.
func (e Ejector) Failure(b *Backend, now time.Time) time.Duration {
	if e.After <= 0 || int(b.failures.Add(1)) < e.After {
		return 0
	}
	// Only one of the concurrent failures that cross the threshold ejects.
	if now.UnixNano() < b.ejectEnd.Load() {
		return 0
	}
	b.failures.Store(0)
	n := b.ejections.Add(1) - 1
	d := e.Base
	for range min(n, 30) {
		d *= 2
		if d >= e.Max {
			d = e.Max
			break
		}
	}
	d = min(d, e.Max)
	b.ejectEnd.Store(now.Add(d).UnixNano())
	b.markLost()
	return d
}

// Success records a good answer from b. A success well after the last
// ejection ended forgets the backoff.
func (e Ejector) Success(b *Backend, now time.Time) {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.ejections.Load() != 0 && now.UnixNano() > b.ejectEnd.Load()+int64(e.Max) {
		b.ejections.Store(0)
	}
}

// idFor derives a short stable identifier from an address (FNV-1a, 64 bits, hex).
func idFor(a netip.AddrPort) string {
	h := hashString(a.String())
	const hex = "0123456789abcdef"
	var buf [16]byte
	for i := range buf {
		buf[15-i] = hex[h&0xf]
		h >>= 4
	}
	return string(buf[:])
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is a 64-bit finaliser (splitmix64) used by rendezvous hashing.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
