package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-examples/stack/platform/problem"
)

// Streams tracks long-lived responses (event streams, bodies without a
// length, WebSocket tunnels) so that shutdown can end them politely:
// streamed responses finish cleanly (an EventSource reconnects, to
// another lb), WebSocket clients get a close frame "going away".
//
// It also caps the event streams and WebSocket tunnels open at once,
// overall and per client address (Limit, admit, leave): they live for
// minutes or hours, so they have slots of their own instead of holding
// the in-flight slots ordinary requests need. Safe for concurrent use.
type Streams struct {
	mu      sync.Mutex
	m       map[*stream]struct{}
	closing bool

	maxTotal, maxPerClient int // 0: no cap
	open                   int
	perClient              map[netip.Addr]int
}

// Limit caps the streams admitted at once: total overall, perClient per
// client address (0 for no cap). Call it before serving.
func (s *Streams) Limit(total, perClient int) {
	s.mu.Lock()
	s.maxTotal, s.maxPerClient = total, perClient
	s.mu.Unlock()
}

// errTooManyStreams answers a client at its stream cap, or the lb at its own.
var (
	errTooManyStreams = Problem{rateLimited, "too many event streams from this client: close one first", 5}
	errStreamsFull    = Problem{problem.Unavailable, "the load balancer holds as many event streams as it may", 5}
)

// rateLimited is the api's 429 condition, answered by the lb here.
var rateLimited = problem.Kind{Status: http.StatusTooManyRequests, Slug: "rate-limited", Title: "Too many requests"}

// admit takes a stream slot for client, or reports the problem to answer
// when the client or the lb is at its cap. Every admitted stream is left
// with leave.
func (s *Streams) admit(client netip.Addr) (Problem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.maxTotal > 0 && s.open >= s.maxTotal {
		return errStreamsFull, false
	}
	if s.maxPerClient > 0 && s.perClient[client] >= s.maxPerClient {
		return errTooManyStreams, false
	}
	if s.perClient == nil {
		s.perClient = map[netip.Addr]int{}
	}
	s.open++
	s.perClient[client]++
	return Problem{}, true
}

// atCap reports whether client may open no further stream.
func (s *Streams) atCap(client netip.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxPerClient > 0 && s.perClient[client] >= s.maxPerClient
}

// leave frees the slot admit took.
func (s *Streams) leave(client netip.Addr) {
	s.mu.Lock()
	s.open--
	if n := s.perClient[client] - 1; n > 0 {
		s.perClient[client] = n
	} else {
		delete(s.perClient, client)
	}
	s.mu.Unlock()
}

type stream struct {
	up      *upConn
	closing atomic.Bool
}

// NewStreams returns an empty registry.
func NewStreams() *Streams { return &Streams{m: map[*stream]struct{}{}} }

// alreadyPast is a deadline that makes blocked reads return at once.
var alreadyPast = time.Unix(1, 0)

func (s *Streams) add(c *upConn) *stream {
	st := &stream{up: c}
	s.mu.Lock()
	s.m[st] = struct{}{}
	closing := s.closing
	s.mu.Unlock()
	if closing {
		st.stop()
	}
	return st
}

func (s *Streams) remove(st *stream) {
	s.mu.Lock()
	delete(s.m, st)
	s.mu.Unlock()
}

// Len is the number of open streams.
func (s *Streams) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// CloseAll ends every open stream and every stream opened from now on.
func (s *Streams) CloseAll() {
	s.mu.Lock()
	s.closing = true
	sts := make([]*stream, 0, len(s.m))
	for st := range s.m {
		sts = append(sts, st)
	}
	s.mu.Unlock()
	for _, st := range sts {
		st.stop()
	}
}

// stop unblocks the goroutine reading from the backend; it sees closing
// and ends its side politely.
func (st *stream) stop() {
	st.closing.Store(true)
	_ = st.up.SetReadDeadline(alreadyPast)
}

// wsGoingAway is a WebSocket close frame, status 1001 "going away".
var wsGoingAway = []byte{0x88, 0x02, 0x03, 0xe9}

// tunnel takes over the client's connection after the backend switched
// protocols (WebSocket) and copies bytes both ways until either side
// closes. The connection is never reused.
func (f *Forwarder) tunnel(x *exchange, r *http.Request, c *upConn, resp *http.Response) {
	rc := http.NewResponseController(x)
	client, brw, err := rc.Hijack()
	if err != nil {
		c.destroy()
		errUpgradeFailed.write(x, r, x.requestID)
		return
	}
	x.Status = http.StatusSwitchingProtocols
	_ = client.SetDeadline(time.Time{})
	_ = c.SetDeadline(time.Time{})

	// The 101 answer, as the backend sent it (Upgrade and Connection
	// included, they are the handshake), plus our headers.
	resp.Header.Set("X-Served-By", x.Header().Get("X-Served-By"))
	resp.Header.Set("X-Request-ID", x.requestID)
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = resp.Header.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		client.Close()
		c.destroy()
		return
	}
	st := f.streams.add(c)
	defer f.streams.remove(st)
	x.becameStream()

	backendDone := make(chan int64, 1)
	go func() {
		// backend -> client, including what the backend already sent.
		n, _ := io.Copy(client, c.br)
		if st.closing.Load() {
			_, _ = client.Write(wsGoingAway)
		}
		_ = client.Close()
		backendDone <- n
	}()
	// client -> backend, including what the client already sent.
	_, _ = io.Copy(c.Conn, clientReader(brw.Reader, client))
	_ = c.Conn.Close()
	x.Size = <-backendDone
	c.destroy()
}

func clientReader(br *bufio.Reader, conn net.Conn) io.Reader {
	if br.Buffered() > 0 {
		return io.MultiReader(io.LimitReader(br, int64(br.Buffered())), conn)
	}
	return conn
}
