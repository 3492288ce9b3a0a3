package proxy

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// gate caps concurrent work. Past the cap, up to queueMax callers wait at
// most timeout for a slot; the rest are refused at once. Safe for
// concurrent use; the uncontended path is two atomic operations.
type gate struct {
	max      int64
	queueMax int64
	timeout  time.Duration
	inflight atomic.Int64
	queued   atomic.Int64
	wake     chan struct{}
}

func newGate(max, queueMax int, timeout time.Duration) *gate {
	return &gate{max: int64(max), queueMax: int64(queueMax), timeout: timeout, wake: make(chan struct{}, 64)}
}

// tryEnter takes a slot if one is free.
func (g *gate) tryEnter() bool {
	if g.inflight.Add(1) <= g.max {
		return true
	}
	g.inflight.Add(-1)
	return false
}

// enter takes a slot, waiting in the queue when none is free. It reports
// false when the queue is full, the wait timed out or ctx ended.
func (g *gate) enter(ctx context.Context) bool {
	if g.tryEnter() {
		return true
	}
	return g.wait(ctx, g.tryEnter)
}

// wait blocks until try succeeds after a wake-up, the timeout passes, or
// ctx ends, counting the caller as queued meanwhile.
func (g *gate) wait(ctx context.Context, try func() bool) bool {
	if g.timeout <= 0 || g.queued.Add(1) > g.queueMax {
		if g.timeout > 0 {
			g.queued.Add(-1)
		}
		return false
	}
	defer g.queued.Add(-1)
	t := time.NewTimer(g.timeout)
	defer t.Stop()
	for {
		select {
		case <-g.wake:
			if try() {
				return true
			}
		case <-t.C:
			return try()
		case <-ctx.Done():
			return false
		}
	}
}

// leave frees a slot taken by enter.
func (g *gate) leave() {
	g.inflight.Add(-1)
	g.signal()
}

// signal wakes one waiter, if any: something it waits for may be free.
func (g *gate) signal() {
	if g.queued.Load() > 0 {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// budget limits retries to a share of requests plus a small floor per
// second, so a failing pool cannot multiply its load. Tokens are in
// thousandths of a retry.
type budget struct {
	ratio    int64 // tokens added per request
	floor    int64 // tokens guaranteed each second
	capacity int64
	tokens   atomic.Int64
	second   atomic.Int64
}

func newBudget(ratio float64, minPerSecond int) *budget {
	b := &budget{ratio: int64(ratio * 1000), floor: int64(minPerSecond) * 1000}
	b.capacity = 10*b.floor + 100_000
	b.tokens.Store(b.floor)
	return b
}

// request records a request and refills the floor once per second.
func (b *budget) request(now int64) {
	if s := now / int64(time.Second); b.second.Load() != s {
		if old := b.second.Load(); old != s && b.second.CompareAndSwap(old, s) {
			if b.tokens.Load() < b.floor {
				b.tokens.Store(b.floor)
			}
		}
	}
	if b.ratio > 0 && b.tokens.Load() < b.capacity {
		b.tokens.Add(b.ratio)
	}
}

// withdraw takes one retry from the budget, reporting false when spent.
func (b *budget) withdraw() bool {
	if b.tokens.Add(-1000) >= 0 {
		return true
	}
	b.tokens.Add(1000)
	return false
}

// refund returns a retry taken by withdraw that was not made.
func (b *budget) refund() { b.tokens.Add(1000) }

// clientCap caps the requests in flight per client address. Sharded so
// that clients rarely contend on one lock. Safe for concurrent use.
type clientCap struct {
	max    int
	shards [64]struct {
		mu sync.Mutex
		m  map[netip.Addr]int
	}
}

func newClientCap(max int) *clientCap {
	if max <= 0 {
		return nil
	}
	c := &clientCap{max: max}
	for i := range c.shards {
		c.shards[i].m = map[netip.Addr]int{}
	}
	return c
}

func (c *clientCap) shard(a netip.Addr) int {
	b := a.As16()
	h := uint32(2166136261)
	for _, x := range b {
		h = (h ^ uint32(x)) * 16777619
	}
	return int(h % uint32(len(c.shards)))
}

// enter takes a slot for a, reporting false when a is at its cap.
func (c *clientCap) enter(a netip.Addr) bool {
	s := &c.shards[c.shard(a)]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[a] >= c.max {
		return false
	}
	s.m[a]++
	return true
}

// leave frees a slot enter took.
func (c *clientCap) leave(a netip.Addr) {
	s := &c.shards[c.shard(a)]
	s.mu.Lock()
	if n := s.m[a] - 1; n > 0 {
		s.m[a] = n
	} else {
		delete(s.m, a)
	}
	s.mu.Unlock()
}
