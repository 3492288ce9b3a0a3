package events

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// StreamServer serves GET /api/events; Broker is one.
type StreamServer interface {
	ServeEvents(w http.ResponseWriter, r *http.Request) error
}

// PerClient caps the event streams one client address holds open at once
// on this replica: one client can't hold every stream (and every slot a
// proxy keeps for them). A stream past the cap is refused with
// ratelimit.ErrLimited (429, Retry-After) before it starts. It is safe for
// concurrent use.
type PerClient struct {
	next     StreamServer
	clientIP func(*http.Request) netip.Addr
	max      int

	mu   sync.Mutex
	open map[netip.Addr]int
}

// LimitPerClient returns next with at most max open streams per client
// address, as clientIP names it (forwarded.Resolver.ClientIP). max <= 0
// returns next unchanged.
func LimitPerClient(next StreamServer, clientIP func(*http.Request) netip.Addr, max int) StreamServer {
	if max <= 0 {
		return next
	}
	return &PerClient{next: next, clientIP: clientIP, max: max, open: map[netip.Addr]int{}}
}

// ServeEvents implements StreamServer.
func (p *PerClient) ServeEvents(w http.ResponseWriter, r *http.Request) error {
	ip := p.clientIP(r)
	p.mu.Lock()
	if p.open[ip] >= p.max {
		p.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(10))
		return ratelimit.ErrLimited
	}
	p.open[ip]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.open[ip]--; p.open[ip] <= 0 {
			delete(p.open, ip)
		}
		p.mu.Unlock()
	}()
	return p.next.ServeEvents(w, r)
}

// Open reports how many streams ip holds open.
func (p *PerClient) Open(ip netip.Addr) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open[ip]
}
