package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// connPool keeps idle HTTP/1.1 connections to one backend. Requests run
// synchronously on the caller's goroutine (no reader/writer goroutines per
// connection as in net/http's Transport), which is most of why this proxy
// keeps up with nginx on one core. Safe for concurrent use.
type connPool struct {
	addr        string
	maxIdle     int
	idleTimeout time.Duration
	// dial opens a connection; net.Dialer's, replaced in tests.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// gone ends when the pool is closed (its backend left the pool):
	// connections still being dialled give up at once.
	gone     context.Context
	leaveNow context.CancelFunc

	mu     sync.Mutex
	idle   []*upConn // most recently used last
	closed bool
}

// upConn is one connection to a backend with its buffers.
type upConn struct {
	net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer // writes to w
	w        connWriter
	raw      syscall.RawConn
	peekFn   func(fd uintptr) bool
	peekN    int
	peekErr  syscall.Errno
	peekBuf  [1]byte
	reused   bool
	lastUsed time.Time

	// The state of sendFn, the RawConn.Read callback of w (send_linux.go).
	sendFn   func(fd uintptr) bool
	out      []byte
	outN     int
	outErr   error
	outTried bool
}

// connWriter is the writer under an upConn's bufio.Writer. Armed (await),
// its next Write sends its bytes with write(2) from inside RawConn.Read
// and then waits there until the backend's answer can be read, so the
// read of the answer that follows finds bytes: without it, that read
// would first return EAGAIN and then wait (one system call more per
// request). Unarmed, or where that is not wired up, it writes to the
// connection.
type connWriter struct {
	c     *upConn
	await bool
}

func (w *connWriter) Write(p []byte) (int, error) {
	c := w.c
	if !w.await || c.sendFn == nil {
		return c.Conn.Write(p)
	}
	w.await = false
	c.out, c.outN, c.outErr, c.outTried = p, 0, nil, false
	err := c.raw.Read(c.sendFn)
	n, werr, tried := c.outN, c.outErr, c.outTried
	c.out, c.outErr = nil, nil
	switch {
	case !tried:
		return 0, err // a deadline passed or the connection is closed
	case werr == syscall.EAGAIN:
		// The socket's buffer is full: the rest goes the ordinary way.
		m, err := c.Conn.Write(p[n:])
		return n + m, err
	case werr != nil:
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	}
	// All of p went out; a wait that failed (the deadline) is for the read
	// of the answer to report.
	return n, nil
}

// flushAwait sends what bw holds and returns once the backend's answer
// can be read (or the connection's deadline passed), for the read that
// follows.
func (c *upConn) flushAwait() error {
	c.w.await = true
	err := c.bw.Flush()
	c.w.await = false
	return err
}

// connBufSize holds a response header and a 32 KiB body, so a typical
// answer is read with one system call.
const connBufSize = 36 << 10

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, connBufSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func newConnPool(addr string, dialTimeout time.Duration, maxIdle int) *connPool {
	gone, leave := context.WithCancel(context.Background())
	return &connPool{
		addr:        addr,
		dial:        (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		maxIdle:     maxIdle,
		idleTimeout: 90 * time.Second,
		gone:        gone,
		leaveNow:    leave,
	}
}

// errBackendGone ends the dials of a backend that left the pool.
var errBackendGone = errors.New("backend left the pool")

// idleConn returns the most recently used idle connection that is still
// open, or nil.
func (p *connPool) idleConn() *upConn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(c.lastUsed) < p.idleTimeout && c.alive() {
			c.reused = true
			return c
		}
		c.destroy()
	}
}

// dialConn opens a new connection. A dial error means no byte of the
// request reached the backend. A dial ends early when ctx ends or the pool
// is closed: a backend whose container died may never answer a SYN (its
// address is gone from the network), and the requests waiting on it are
// better retried elsewhere as soon as discovery drops it than after the
// dial timeout.
func (p *connPool) dialConn(ctx context.Context) (*upConn, error) {
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(p.gone, func() { cancel(errBackendGone) })
	nc, err := p.dial(dctx, "tcp", p.addr)
	stop()
	if err != nil {
		if cause := context.Cause(dctx); errors.Is(cause, errBackendGone) {
			err = fmt.Errorf("dial %s: %w", p.addr, cause)
		}
		return nil, err
	}
	c := &upConn{Conn: nc}
	c.w.c = c
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
		c.peekFn = c.peek
		if sendAwaitWired {
			c.sendFn = c.send
		}
	}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(nc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(&c.w)
	return c, nil
}

// put returns a connection whose last response was read completely.
func (p *connPool) put(c *upConn) {
	if c.br.Buffered() > 0 {
		c.destroy()
		return
	}
	c.lastUsed = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		c.destroy()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// close closes the idle connections, ends dials in progress and makes put
// close the connections in use.
func (p *connPool) close() {
	p.leaveNow()
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.closed = true
	p.mu.Unlock()
	for _, c := range idle {
		c.destroy()
	}
}

func (p *connPool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// destroy closes the connection and recycles its buffers.
func (c *upConn) destroy() {
	_ = c.Conn.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
	if c.bw != nil {
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
}

// alive reports whether an idle connection is still open: the backend
// has not closed it (a restart, an idle timeout) nor sent anything
// unsolicited. Checking before reuse, instead of finding out after
// writing, is what lets a non-idempotent request be retried safely: it
// never goes out on a connection the backend already closed.
func (c *upConn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil {
		return true
	}
	c.peekN, c.peekErr = 0, 0
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return peekAlive(c.peekN, c.peekErr)
}

// pending reports whether the backend has sent bytes not read yet: in the
// reader's buffer or waiting in the socket (a peek that never blocks).
func (c *upConn) pending() bool {
	if c.br.Buffered() > 0 {
		return true
	}
	if c.raw == nil {
		return false
	}
	c.peekN, c.peekErr = 0, 0
	if err := c.raw.Read(c.peekFn); err != nil {
		return false
	}
	return c.peekN > 0
}
