// Package connlimit caps the connections one client address holds open
// at a listener, so that one address (or a slow client opening many
// connections) cannot take every connection the lb is willing to hold.
package connlimit

import (
	"net"
	"net/netip"
	"slices"
	"sync"
)

// Listener accepts at most Max connections at once from each remote
// address; a connection beyond that is closed as soon as it is accepted
// (the client sees a reset or an immediate close, before any byte of
// TLS or HTTP). Peers in Exempt (trusted proxies, which carry many
// clients) are not counted. Safe for concurrent use.
type Listener struct {
	net.Listener
	Max    int
	Exempt []netip.Prefix
	// Refused, when set, is called for each connection refused.
	Refused func()

	mu   sync.Mutex
	open map[netip.Addr]int
}

// New wraps ln; max <= 0 returns ln unchanged.
func New(ln net.Listener, max int, exempt []netip.Prefix, refused func()) net.Listener {
	if max <= 0 {
		return ln
	}
	return &Listener{Listener: ln, Max: max, Exempt: exempt, Refused: refused, open: map[netip.Addr]int{}}
}

// Accept returns the next connection whose address is under its cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := remoteAddr(c)
		if !addr.IsValid() || slices.ContainsFunc(l.Exempt, func(p netip.Prefix) bool { return p.Contains(addr) }) {
			return c, nil
		}
		l.mu.Lock()
		if l.open[addr] >= l.Max {
			l.mu.Unlock()
			// Counted before the close, so that whoever sees the close
			// (a client, a test) also sees the count.
			if l.Refused != nil {
				l.Refused()
			}
			_ = c.Close()
			continue
		}
		l.open[addr]++
		l.mu.Unlock()
		return &conn{Conn: c, l: l, addr: addr}, nil
	}
}

// Open is the number of connections addr holds.
func (l *Listener) Open(addr netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[addr]
}

func (l *Listener) release(addr netip.Addr) {
	l.mu.Lock()
	if n := l.open[addr] - 1; n > 0 {
		l.open[addr] = n
	} else {
		delete(l.open, addr)
	}
	l.mu.Unlock()
}

func remoteAddr(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// conn gives its slot back when closed, once.
type conn struct {
	net.Conn
	l    *Listener
	addr netip.Addr
	once sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.release(c.addr) })
	return c.Conn.Close()
}
