package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
)

// Options tune every Forwarder.
type Options struct {
	// Attempts is the number of retries after the first try.
	Attempts int
	// BufferBytes is the largest request body kept in memory so that it
	// can be sent again on a retry.
	BufferBytes int
	// UpstreamTimeout bounds connecting, sending the request and waiting
	// for the response header. Bodies and streams are not bounded by it.
	UpstreamTimeout time.Duration
	// BodyTimeout bounds reading the client's request body, from the
	// moment the Forwarder starts reading it: a client that trickles its
	// body cannot hold a connection (nor, for a body kept in memory, any
	// backend) past it. 0: no bound but the server's.
	BodyTimeout time.Duration
	// Trusted are the peers whose X-Forwarded-* values are kept.
	Trusted []netip.Prefix
	// Ejector ejects backends after consecutive failures.
	Ejector balancer.Ejector
	// BudgetRatio and BudgetMin size the retry budget: retries may add
	// BudgetRatio of the requests plus BudgetMin per second.
	BudgetRatio float64
	BudgetMin   int
	// QueueTimeout is how long a request waits for a backend under its
	// in-flight cap; QueueSize bounds how many wait.
	QueueTimeout time.Duration
	QueueSize    int
	// MaxIdlePerBackend bounds the idle connections kept per backend.
	MaxIdlePerBackend int
}

// Forwarder is the http.Handler of one pool: it picks a backend, sends
// the request, retries on another backend when that is safe, and copies
// the response back (streaming it when it has no length, tunnelling it
// after a protocol switch). Safe for concurrent use.
//
// A retry happens when
//   - no byte of the request reached the backend (connect error, closed
//     pool): any method;
//   - the backend failed after receiving it (reset, timeout, no answer) or
//     answered 502, 503 or 504: only for an idempotent method or a request
//     with an Idempotency-Key, and only with a body that was kept;
//
// each retry goes to a backend not tried yet, and only while the retry
// budget allows.
//
// An attempt also gives up on its backend when the backend is marked down
// by its health checks or ejected while the attempt waits for it (see
// watch): a connect still in progress ends, and so does a request that
// waits for its answer if it may be sent again; both go to another
// backend at once instead of waiting for UpstreamTimeout. Event streams
// from such a backend end politely, so that EventSource reconnects.
type Forwarder struct {
	pool    *balancer.Pool
	opts    Options
	pm      *metrics.Pool
	streams *Streams
	log     *slog.Logger
	budget  *budget
	waitq   *gate
	sticky  balancer.Affinity
	capped  interface{ Inc() } // rejections at the per-backend cap
	proxies *forwarded.Resolver
}

// backendData is what a Forwarder keeps on each balancer.Backend.
type backendData struct {
	conns *connPool
	m     *metrics.Backend
}

// NewForwarder serves pool. It takes over pool.OnAdd and pool.OnRemove
// to give each backend its connection pool and metrics.
func NewForwarder(pool *balancer.Pool, opts Options, m *metrics.Metrics, streams *Streams, log *slog.Logger) *Forwarder {
	if opts.MaxIdlePerBackend <= 0 {
		opts.MaxIdlePerBackend = 1024
	}
	f := &Forwarder{
		pool: pool, opts: opts, pm: m.Pool(pool.Name), streams: streams, log: log,
		budget:  newBudget(opts.BudgetRatio, opts.BudgetMin),
		waitq:   newGate(0, opts.QueueSize, opts.QueueTimeout),
		proxies: forwarded.New(opts.Trusted),
	}
	f.sticky, _ = pool.Policy.(balancer.Affinity)
	f.capped = m.Rejection("backend_cap")
	pool.OnAdd = func(b *balancer.Backend) {
		b.Data = &backendData{
			conns: newConnPool(b.HostPort, min(opts.UpstreamTimeout, 5*time.Second), opts.MaxIdlePerBackend),
			m:     m.Backend(pool.Name, b.HostPort),
		}
	}
	pool.OnRemove = func(b *balancer.Backend) {
		d := b.Data.(*backendData)
		d.conns.close()
		m.Forget(d.m)
	}
	return f
}

// Pool is the pool this forwarder serves.
func (f *Forwarder) Pool() *balancer.Pool { return f.pool }

// answered counts the response to x in the pool's metrics.
func (f *Forwarder) answered(x *exchange) {
	status := x.Status
	if status == 0 {
		status = http.StatusOK
	}
	f.pm.Answered(status)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// attemptResult says how one attempt ended.
type attemptResult int

const (
	done         attemptResult = iota // a response went to the client (maybe cut short)
	notSent                           // nothing reached the backend
	failedSent                        // the request (maybe) reached it; no usable answer
	retryable5xx                      // 502/503/504 discarded because a retry is allowed
	abandoned                         // given up on a backend marked down; the retry is paid for
)

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchangeOf(w, r, f)
	x.pool = f.pool.Name
	defer f.answered(x)
	now := time.Now()
	f.budget.request(now.UnixNano())

	upgrade := isUpgrade(r)
	replayable := !upgrade && (idempotent(r.Method) || len(r.Header["Idempotency-Key"]) > 0)

	// The body: none, kept in memory (read whole before any backend is
	// involved, so a slow client holds no backend slot, and replayable),
	// or streamed once (chunked, or larger than BufferBytes).
	var kept []byte
	var bufp *[]byte
	bodyLen := r.ContentLength
	var body io.Reader
	hasBody := !(r.Body == nil || r.Body == http.NoBody || bodyLen == 0)
	if hasBody && f.opts.BodyTimeout > 0 {
		_ = http.NewResponseController(x).SetReadDeadline(time.Now().Add(f.opts.BodyTimeout))
	}
	switch {
	case !hasBody:
		bodyLen = 0
	case bodyLen > 0 && bodyLen <= int64(f.opts.BufferBytes):
		bufp = copyBufs.Get().(*[]byte)
		defer copyBufs.Put(bufp)
		if int(bodyLen) > len(*bufp) {
			kept = make([]byte, bodyLen)
		} else {
			kept = (*bufp)[:bodyLen]
		}
		if _, err := io.ReadFull(r.Body, kept); err != nil {
			f.bodyError(x, r, err)
			return
		}
		bodyRead(x)
	default:
		body = &countingReader{r: r.Body}
	}

	target := r.RequestURI
	if target == "" || target[0] != '/' || r.URL.RawPath != "" || !cleanPath(r.URL.Path) {
		target = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}

	if wantsStream(r) && f.streams.atCap(x.fwd.Client) {
		// An EventSource at its client's cap: no backend needs to see it.
		errTooManyStreams.write(x, r, x.requestID)
		return
	}

	var last Problem = errNoBackend
	for attempt := 0; ; attempt++ {
		b := f.pick(r, x)
		if b == nil {
			if attempt == 0 && len(f.pool.Backends()) > 0 {
				last = errOverloaded
				f.capped.Inc()
			}
			break
		}
		x.tried = append(x.tried, b)
		x.backend = b
		x.attempts = attempt + 1
		d := b.Data.(*backendData)
		if attempt > 0 {
			d.m.Retries.Inc()
		}
		mayRetry := attempt < f.opts.Attempts && len(x.tried) < len(f.pool.Backends())
		// A 502/503/504 is only thrown away when a retry will follow.
		discard5xx := mayRetry && replayable && body == nil && f.budget.tokens.Load() >= 1000
		// Giving up on a backend marked down is only worth it when the
		// request can go elsewhere: the watch asks this first, and pays
		// for the retry from the budget when it gives up.
		w := &watch{armed: true, replay: replayable && body == nil, f: f, tried: x.tried, mayRetry: mayRetry}
		res, p := f.try(x, r, b, d, target, kept, body, bodyLen, upgrade, discard5xx, w)
		if res == done {
			return
		}
		last = p
		if res == abandoned {
			continue
		}
		canRetry := mayRetry && (res == notSent && (body == nil || !body.(*countingReader).read) ||
			replayable && body == nil)
		if !canRetry {
			break
		}
		if !f.budget.withdraw() {
			f.pm.BudgetExhausted.Inc()
			break
		}
	}
	last.write(x, r, x.requestID)
}

// pick chooses a backend, waiting up to the queue timeout when every
// backend is at its in-flight cap.
func (f *Forwarder) pick(r *http.Request, x *exchange) *balancer.Backend {
	b := f.pool.Pick(r, x.tried, x.fwd.Client, time.Now())
	if b != nil || len(x.tried) > 0 || len(f.pool.Backends()) == 0 {
		return b
	}
	f.waitq.wait(r.Context(), func() bool {
		b = f.pool.Pick(r, x.tried, x.fwd.Client, time.Now())
		return b != nil
	})
	return b
}

// otherAvailable reports whether a backend not in tried may take a request.
func (f *Forwarder) otherAvailable(tried []*balancer.Backend) bool {
	now := time.Now().UnixNano()
	for _, b := range f.pool.Backends() {
		if b.Available(now, f.pool.MaxInFlight) && !slices.Contains(tried, b) {
			return true
		}
	}
	return false
}

// try sends r to b once. It returns done once it wrote anything to the
// client; otherwise it reports why it failed and the problem to answer if
// no retry follows. discard5xx allows throwing away a 502/503/504 answer
// for a retry. w, new and armed, gives up on b when it is marked down
// before its answer arrived (from another goroutine; see watch).
func (f *Forwarder) try(x *exchange, r *http.Request, b *balancer.Backend, d *backendData,
	target string, kept []byte, body io.Reader, bodyLen int64, upgrade, discard5xx bool,
	w *watch) (attemptResult, Problem) {
	x.holdBackend(b, f.waitq)
	defer x.releaseBackend()
	start := time.Now()
	b.Watch(w)
	defer func() {
		b.Unwatch(w)
		w.disarm()
	}()
	c := d.conns.idleConn()
	var err error
	if c == nil {
		c, err = w.dial(r.Context(), d.conns)
	}
	if !w.connected(c) {
		if c != nil {
			c.destroy()
		}
		d.m.Abandoned.Inc()
		return abandoned, errUnreachable
	}
	if err != nil {
		d.m.ConnErrors.Inc()
		f.failure(b, d, start)
		if isTimeout(err) {
			return notSent, errTimeout
		}
		return notSent, errUnreachable
	}
	_ = c.SetDeadline(start.Add(f.opts.UpstreamTimeout))

	if !w.sending() {
		c.destroy()
		d.m.Abandoned.Inc()
		return abandoned, errUnreachable
	}
	writeRequestHead(c.bw, r, target, &x.fwd, x.requestID, bodyLen, upgrade)
	var werr error
	switch {
	case kept != nil:
		_, werr = c.bw.Write(kept)
	case body != nil:
		werr = copyBody(c.bw, body, bodyLen)
	}
	if body != nil && werr == nil {
		bodyRead(x)
	}
	if werr == nil {
		werr = c.flushAwait()
	}
	if werr != nil {
		var be *bodyReadError
		if errors.As(werr, &be) {
			// The client's body failed, not the backend.
			c.destroy()
			f.bodyError(x, r, be.err)
			return done, Problem{}
		}
		// The backend may have answered before reading the whole request
		// (413, 401, ...) and closed its side: look for that answer
		// before calling it a failure.
	}

	resp, err := http.ReadResponse(c.br, r)
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, r) // 100 Continue, 103 Early Hints: skip
	}
	b.Unwatch(w)
	if w.disarm() {
		if err != nil {
			c.destroy()
			d.m.Abandoned.Inc()
			return abandoned, errBadGateway
		}
		// The answer came after all: keep it, and the retry's token.
		f.budget.refund()
	}
	if err == nil && werr != nil {
		resp.Close = true // half-written request: never reuse the connection
		if resp.StatusCode == http.StatusSwitchingProtocols {
			err = werr
		}
	}
	if err != nil {
		c.destroy()
		d.m.ReadErrors.Inc()
		f.failure(b, d, start)
		if isTimeout(err) {
			return failedSent, errTimeout
		}
		return failedSent, errBadGateway
	}
	d.m.Latency.Observe(time.Since(start).Seconds())
	d.m.Code(resp.StatusCode)
	_ = c.SetDeadline(time.Time{})

	if resp.StatusCode >= 500 {
		d.m.Status5xx.Inc()
		f.failure(b, d, start)
		if discard5xx && (resp.StatusCode == 502 || resp.StatusCode == 503 || resp.StatusCode == 504) {
			f.discard(d, c, resp)
			return retryable5xx, backendAnswered(resp)
		}
	} else {
		f.opts.Ejector.Success(b, start)
	}

	if resp.StatusCode == http.StatusSwitchingProtocols {
		if !upgrade {
			c.destroy()
			return failedSent, errBadGateway
		}
		p, ok := f.streams.admit(x.fwd.Client)
		if !ok {
			c.destroy()
			p.write(x, r, x.requestID)
			return done, Problem{}
		}
		defer f.streams.leave(x.fwd.Client)
		f.tunnel(x, r, c, resp)
		return done, Problem{}
	}
	f.respond(x, r, b, d, c, resp)
	return done, Problem{}
}

// respond copies the response header and body to the client.
func (f *Forwarder) respond(x *exchange, r *http.Request, b *balancer.Backend, d *backendData, c *upConn, resp *http.Response) {
	streaming := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	if streaming {
		// However the request looked, its answer is a long-lived stream:
		// it takes a stream slot, or the client hears it has too many.
		p, ok := f.streams.admit(x.fwd.Client)
		if !ok {
			c.destroy()
			p.write(x, r, x.requestID)
			return
		}
		defer f.streams.leave(x.fwd.Client)
	}
	h := x.Header()
	conn := len(resp.Header["Connection"]) > 0
	for k, vv := range resp.Header {
		if hopByHop(k) || conn && connectionListed(resp.Header, k) {
			continue
		}
		h[k] = vv
	}
	if len(h["X-Request-Id"]) == 0 {
		h["X-Request-Id"] = []string{x.requestID}
	}
	if f.sticky != nil {
		f.sticky.Stick(h, r, b)
	}
	if !streaming && resp.ContentLength < 0 && bodyAllowed(r.Method, resp.StatusCode) {
		f.relayUnsized(x, d, c, resp)
		return
	}
	var st *stream
	if streaming {
		// A stream lives as long as it likes: lift the server's timeouts
		// for this request, and let shutdown end it politely.
		rc := http.NewResponseController(x)
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Time{})
		st = f.streams.add(c)
		defer f.streams.remove(st)
		x.becameStream()
		// A backend marked down sends no more events: end the stream
		// politely so that the client reconnects to another one.
		defer context.AfterFunc(b.Lost(), st.stop)()
		// Nor does a client that went away need any: its stream slot is
		// free at once, not at the backend's next event.
		defer context.AfterFunc(r.Context(), st.stop)()
	}
	x.WriteHeader(resp.StatusCode)
	if !bodyAllowed(r.Method, resp.StatusCode) {
		f.finish(d, c, resp)
		return
	}
	if streaming {
		x.Flush()
	}
	bufp := copyBufs.Get().(*[]byte)
	buf := *bufp
	defer copyBufs.Put(bufp)
	for {
		var n int
		var rerr error
		if streaming {
			n, rerr = resp.Body.Read(buf) // pass on whatever arrived
		} else {
			// Fill the buffer first: fewer, larger writes to the client
			// (a 32 KiB answer leaves in one Write, not one per read).
			n, rerr = io.ReadFull(resp.Body, buf)
			if rerr == io.ErrUnexpectedEOF {
				rerr = io.EOF
			}
		}
		if n > 0 {
			if _, werr := x.Write(buf[:n]); werr != nil {
				c.destroy()
				return // the client left
			}
			if streaming {
				x.Flush()
			}
		}
		if rerr == io.EOF {
			f.finish(d, c, resp)
			return
		}
		if rerr != nil {
			c.destroy()
			if st != nil && st.closing.Load() {
				return // shutdown ended the stream: finish the response cleanly
			}
			d.m.ReadErrors.Inc()
			// Cut the client's response short so it sees the failure
			// instead of a truncated body that looks complete.
			panic(http.ErrAbortHandler)
		}
	}
}

// relayUnsized passes on a body without a length (chunked, or up to the
// backend's close) that is not an event stream. What the backend has sent
// so far is gathered into one buffer and written at once; the client gets
// it as soon as the backend pauses (nothing more has arrived from it) or
// the buffer is full, so a slow body still flows as it comes, and a fast
// one leaves in few large writes instead of one per backend chunk. A body
// that ends within its first buffer (most JSON answers) leaves in one
// write with a Content-Length, as if the backend had sent one.
//
// Such a body is not an event stream: the server's write deadline still
// holds (a client that reads slowly cannot keep it for ever), and a
// graceful stop lets it finish or, past the shutdown timeout, cuts it
// short so the client sees an incomplete body, never a clean end.
func (f *Forwarder) relayUnsized(x *exchange, d *backendData, c *upConn, resp *http.Response) {
	bufp := copyBufs.Get().(*[]byte)
	buf := *bufp
	defer copyBufs.Put(bufp)
	started, filled := false, 0
	for {
		n, rerr := resp.Body.Read(buf[filled:])
		filled += n
		if rerr != nil && rerr != io.EOF {
			c.destroy()
			d.m.ReadErrors.Inc()
			// Cut the client's response short so it sees the failure
			// instead of a truncated body that looks complete.
			panic(http.ErrAbortHandler)
		}
		if rerr == io.EOF && !started {
			if filled > smallBody {
				x.Header()["Content-Length"] = []string{strconv.Itoa(filled)}
			} // else net/http's servers add it, without allocating
			x.WriteHeader(resp.StatusCode)
			if _, werr := x.Write(buf[:filled]); werr != nil {
				c.destroy()
				return
			}
			f.finish(d, c, resp)
			return
		}
		idle := rerr == nil && filled < len(buf) && !c.pending()
		if rerr == nil && filled < len(buf) && !idle {
			continue // more has arrived: gather it first
		}
		if !started {
			started = true
			x.WriteHeader(resp.StatusCode)
		}
		if filled > 0 {
			if _, werr := x.Write(buf[:filled]); werr != nil {
				c.destroy()
				return // the client left
			}
			filled = 0
		}
		if rerr == io.EOF {
			f.finish(d, c, resp)
			return
		}
		if idle {
			x.Flush()
		}
	}
}

// smallBody is the largest body net/http's servers hold until the handler
// returns (HTTP/1.1's 2 KiB buffer before chunking; HTTP/2's is 4 KiB),
// then send with a Content-Length they compute themselves.
const smallBody = 2 << 10

// finish returns c to its pool when the response allows reuse.
func (f *Forwarder) finish(d *backendData, c *upConn, resp *http.Response) {
	if resp.Close {
		c.destroy()
		return
	}
	d.conns.put(c)
}

// discard drops a response that will be retried, keeping the connection
// when the body is small.
func (f *Forwarder) discard(d *backendData, c *upConn, resp *http.Response) {
	n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if err != nil || n == 64<<10 || resp.Close {
		c.destroy()
		return
	}
	d.conns.put(c)
}

// failure records a passive health failure and counts an ejection.
func (f *Forwarder) failure(b *balancer.Backend, d *backendData, now time.Time) {
	if ej := f.opts.Ejector.Failure(b, now); ej > 0 {
		d.m.Ejections.Inc()
		f.log.Warn("backend ejected", "pool", f.pool.Name, "backend", b.HostPort, "for", ej.String())
	}
}

func (f *Forwarder) bodyError(x *exchange, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		errBodyTooLarge.write(x, r, x.requestID)
	case isTimeout(err):
		// The client is too slow to be worth an answer it would read as
		// slowly; close its connection after this one.
		x.Header().Set("Connection", "close")
		errBodySlow.write(x, r, x.requestID)
	default:
		errBodyUnread.write(x, r, x.requestID)
	}
}

// bodyRead lifts the body deadline once the body is in: the server's
// background read (which notices a client that leaves) must not fail on
// it while the request waits for its backend or streams.
func bodyRead(x *exchange) {
	_ = http.NewResponseController(x).SetReadDeadline(time.Time{})
}

// wantsStream reports whether r asks for an event stream (EventSource
// sends Accept: text/event-stream) or a protocol switch (WebSocket).
func wantsStream(r *http.Request) bool {
	return isUpgrade(r) || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// idempotent reports whether method may be repeated without changing
// the outcome (RFC 9110, 9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func bodyAllowed(method string, status int) bool {
	return method != http.MethodHead && status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// cleanPath reports whether p needs no cleaning: no "//", "/./", "/../".
func cleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i+1 < len(p) {
			switch p[i+1] {
			case '/':
				return false
			case '.':
				rest := p[i+1:]
				if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
					return false
				}
			}
		}
	}
	return true
}

// countingReader remembers whether anything was read from the client's
// body, which makes a streamed request impossible to replay.
type countingReader struct {
	r    io.Reader
	read bool
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.read = true
	}
	return n, err
}

// bodyReadError marks a failure to read the client's request body.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "read request body: " + e.err.Error() }

// copyBody streams a request body of length n (-1: chunked) to bw.
func copyBody(bw *bufio.Writer, body io.Reader, n int64) error {
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	var sent int64
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			if n >= 0 && sent+int64(m) > n {
				m = int(n - sent)
			}
			var werr error
			if n < 0 {
				werr = writeChunk(bw, buf[:m])
			} else {
				_, werr = bw.Write(buf[:m])
			}
			if werr != nil {
				return werr
			}
			sent += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &bodyReadError{rerr}
		}
		if n >= 0 && sent >= n {
			break
		}
	}
	if n >= 0 && sent < n {
		return &bodyReadError{io.ErrUnexpectedEOF}
	}
	if n < 0 {
		_, err := bw.WriteString("0\r\n\r\n")
		return err
	}
	return nil
}

func writeChunk(bw *bufio.Writer, p []byte) error {
	const hex = "0123456789abcdef"
	var size [16]byte
	i := len(size)
	for v := len(p); ; v >>= 4 {
		i--
		size[i] = hex[v&0xf]
		if v < 16 {
			break
		}
	}
	bw.Write(size[i:])
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}
