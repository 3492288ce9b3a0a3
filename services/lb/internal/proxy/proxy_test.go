package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/config"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
)

// fakeBackend is an httptest server whose behaviour a test sets after the
// pool sorted the backends, so picks can be asserted exactly.
type fakeBackend struct {
	name  string
	srv   *httptest.Server
	addr  netip.AddrPort
	hits  atomic.Int64
	mu    sync.Mutex
	serve http.HandlerFunc
	// bodies received, in order
	bodies []string
}

func (b *fakeBackend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.bodies = append(b.bodies, string(body))
	h := b.serve
	b.mu.Unlock()
	w.Header().Set("X-Backend", b.name)
	if h != nil {
		h(w, r)
		return
	}
	fmt.Fprintf(w, "%s %s %s", b.name, r.Method, r.URL.RequestURI())
}

func (b *fakeBackend) set(h http.HandlerFunc) {
	b.mu.Lock()
	b.serve = h
	b.mu.Unlock()
}

// deadAddr is a loopback port nothing listens on.
func deadAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

type harness struct {
	t        *testing.T
	backends []*fakeBackend // sorted by address: round-robin order
	pool     *balancer.Pool
	fwd      *Forwarder
	handler  http.Handler
	streams  *Streams
	health   *Health
}

type harnessOpts struct {
	n       int
	dead    int // extra dead-port backends
	policy  config.Policy
	opts    Options
	edge    EdgeOptions
	perCap  int64
	trusted []netip.Prefix
	withLog io.Writer
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	h := &harness{t: t, streams: NewStreams(), health: &Health{}}
	var addrs []netip.AddrPort
	for i := 0; i < o.n; i++ {
		fb := &fakeBackend{}
		fb.srv = httptest.NewServer(fb)
		t.Cleanup(fb.srv.Close)
		fb.addr = netip.MustParseAddrPort(fb.srv.Listener.Addr().String())
		h.backends = append(h.backends, fb)
		addrs = append(addrs, fb.addr)
	}
	for i := 0; i < o.dead; i++ {
		addrs = append(addrs, deadAddr(t))
	}
	slices.SortFunc(h.backends, func(a, b *fakeBackend) int { return a.addr.Compare(b.addr) })
	for i, b := range h.backends {
		b.name = string(rune('a' + i))
	}
	if o.perCap == 0 {
		o.perCap = 1000
	}
	h.pool = balancer.NewPool("api", o.policy, o.perCap, 0)
	opts := o.opts
	if opts.UpstreamTimeout == 0 {
		opts.UpstreamTimeout = 5 * time.Second
	}
	if opts.Attempts == 0 {
		opts.Attempts = 2
	}
	if opts.BufferBytes == 0 {
		opts.BufferBytes = 64 << 10
	}
	if opts.Ejector.After == 0 {
		opts.Ejector = balancer.Ejector{After: 1000, Base: time.Second, Max: time.Minute}
	}
	if opts.BudgetRatio == 0 && opts.BudgetMin == 0 {
		opts.BudgetRatio, opts.BudgetMin = 1, 1000
	}
	if opts.BudgetMin < 0 {
		opts.BudgetMin = 0
	}
	opts.Trusted = o.trusted
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.fwd = NewForwarder(h.pool, opts, m, h.streams, log)
	h.pool.Update(addrs, time.Now())
	eo := o.edge
	eo.InstanceName = "lb-test"
	eo.Trusted = o.trusted
	if eo.MaxInFlight == 0 {
		eo.MaxInFlight = 1000
	}
	if o.withLog != nil {
		eo.AccessLog = NewAccessLog(o.withLog)
	}
	h.handler = NewEdge(NewRouter([]Route{{Path: "/api/", Handler: h.fwd}, {Path: "/", Handler: h.fwd}}, h.health), eo, m)
	return h
}

// do sends a request through the handler as a client would (through a
// real server).
func (h *harness) server() *httptest.Server {
	srv := httptest.NewServer(h.handler)
	h.t.Cleanup(srv.Close)
	return srv
}

func (h *harness) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.handler.ServeHTTP(w, r)
	return w
}

func (h *harness) hits() []int64 {
	var out []int64
	for _, b := range h.backends {
		out = append(out, b.hits.Load())
	}
	return out
}

// flushedThenReleased answers with first, flushed at once, and then, once
// release is closed, with second: a body without a length that comes in
// two parts.
func flushedThenReleased(contentType, first, second string, release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		fmt.Fprint(w, first)
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, second)
	}
}

// getFirstLine GETs url with client and reads the first line of the
// body; the error is that of the read. The returned reader holds the
// rest; the body is closed when the test ends.
func getFirstLine(t *testing.T, client *http.Client, url string) (*bufio.Reader, string, error) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	return br, line, err
}

// wantCleanEnd reads the rest of an event stream whose first event was
// read up to its blank line: it must be that line and a clean end.
func wantCleanEnd(t *testing.T, br *bufio.Reader) {
	t.Helper()
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Errorf("stream ended with %v, want a clean end", err)
	}
	if string(rest) != "\n" {
		t.Errorf("rest = %q", rest)
	}
}

func TestRoundRobinPicksInTurn(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 3})
	var got []string
	for range 7 {
		w := h.serve(httptest.NewRequest("GET", "/api/items", nil))
		got = append(got, w.Header().Get("X-Backend"))
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "a", "b", "c", "a"}, got); diff != "" {
		t.Errorf("backends picked (-want +got):\n%s", diff)
	}
}

// breakingBody fails every read once closed, as a client's body does
// when its connection is gone: a proxy that closes it before a retry
// loses the body.
type breakingBody struct {
	r      io.Reader
	closed atomic.Bool
}

func (b *breakingBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, errors.New("read after close")
	}
	return b.r.Read(p)
}

func (b *breakingBody) Close() error { b.closed.Store(true); return nil }

func TestRetriesAnyMethodWhenNothingReachedTheBackend(t *testing.T) {
	// One live backend and two dead ports: whatever the order, every
	// request is answered by the live one, with its body intact.
	h := newHarness(t, harnessOpts{n: 1, dead: 2})
	for i := range 6 {
		body := fmt.Sprintf("payload-%d", i)
		r := httptest.NewRequest("POST", "/api/items", nil)
		r.Body = &breakingBody{r: strings.NewReader(body)}
		r.ContentLength = int64(len(body))
		w := h.serve(r)
		if w.Code != http.StatusOK {
			t.Fatalf("POST %d: status %d, want 200; body %s", i, w.Code, w.Body)
		}
		b := h.backends[0]
		b.mu.Lock()
		last := b.bodies[len(b.bodies)-1]
		b.mu.Unlock()
		if last != body {
			t.Errorf("POST %d: backend got body %q, want %q", i, last, body)
		}
	}
	if got := h.backends[0].hits.Load(); got != 6 {
		t.Errorf("live backend hits = %d, want 6", got)
	}
}

func TestRetriesStreamedBodyWhenNothingReachedTheBackend(t *testing.T) {
	// A chunked upload (no length) is never kept in memory; it may still
	// be retried while none of it was read.
	h := newHarness(t, harnessOpts{n: 1, dead: 2})
	for i := range 3 {
		r := httptest.NewRequest("PUT", "/api/blob", nil)
		r.Body = &breakingBody{r: strings.NewReader("streamed")}
		r.ContentLength = -1
		w := h.serve(r)
		if w.Code != http.StatusOK {
			t.Fatalf("PUT %d: status %d, want 200", i, w.Code)
		}
	}
	b := h.backends[0]
	if diff := cmp.Diff([]string{"streamed", "streamed", "streamed"}, b.bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
}

// hangUp reads the request and closes the connection without answering:
// the request reached the backend, which then died.
func hangUp(w http.ResponseWriter, r *http.Request) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		c.Close()
	}
}

func TestRetryAfterTheRequestWasSent(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		header     http.Header
		first      http.HandlerFunc
		wantStatus int
		wantHits   []int64
	}{
		{"GET after a hang-up", "GET", nil, hangUp, 200, []int64{1, 1}},
		{"POST after a hang-up is not retried", "POST", nil, hangUp, 502, []int64{1, 0}},
		{"POST with Idempotency-Key after a hang-up", "POST", http.Header{"Idempotency-Key": {"k1"}}, hangUp, 200, []int64{1, 1}},
		{"GET after 503", "GET", nil, status(503), 200, []int64{1, 1}},
		{"PUT after 502", "PUT", nil, status(502), 200, []int64{1, 1}},
		{"DELETE after 504", "DELETE", nil, status(504), 200, []int64{1, 1}},
		{"POST after 503 is passed on", "POST", nil, status(503), 503, []int64{1, 0}},
		{"GET after 500 is passed on", "GET", nil, status(500), 500, []int64{1, 0}},
		{"POST with Idempotency-Key after 503", "POST", http.Header{"Idempotency-Key": {"k2"}}, status(503), 200, []int64{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{n: 2})
			h.backends[0].set(tt.first)
			r := httptest.NewRequest(tt.method, "/api/items", strings.NewReader(`{"name":"x"}`))
			for k, v := range tt.header {
				r.Header[k] = v
			}
			w := h.serve(r)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", w.Code, tt.wantStatus, w.Body)
			}
			if diff := cmp.Diff(tt.wantHits, h.hits()); diff != "" {
				t.Errorf("hits per backend (-want +got):\n%s", diff)
			}
			if tt.wantStatus == 200 && len(h.backends[1].bodies) > 0 {
				if got := h.backends[1].bodies[0]; got != `{"name":"x"}` {
					t.Errorf("retried body = %q", got)
				}
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func TestEachRetryGoesToAnotherBackend(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 3, opts: Options{Attempts: 5}})
	for _, b := range h.backends {
		b.set(status(503))
	}
	w := h.serve(httptest.NewRequest("GET", "/api/items", nil))
	if w.Code != 503 {
		t.Errorf("status = %d, want 503 once every backend answered 503", w.Code)
	}
	if diff := cmp.Diff([]int64{1, 1, 1}, h.hits()); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
}

func TestBackendLeavingThePoolEndsItsPendingConnects(t *testing.T) {
	// A backend whose container was killed may never answer a SYN again
	// (its address is gone from the network): a connect to it hangs until
	// the dial timeout. Once discovery drops the backend, the request
	// waiting on that connect goes to another backend at once.
	h := newHarness(t, harnessOpts{n: 2})
	dialing := make(chan struct{}, 1)
	h.pool.Backends()[0].Data.(*backendData).conns.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialing <- struct{}{}
		<-ctx.Done() // a SYN nobody answers
		return nil, ctx.Err()
	}
	type result struct {
		code    int
		backend string
	}
	done := make(chan result, 1)
	go func() {
		w := h.serve(httptest.NewRequest("GET", "/api/items", nil))
		done <- result{w.Code, w.Header().Get("X-Backend")}
	}()
	select {
	case <-dialing:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never tried the first backend")
	}
	h.pool.Update([]netip.AddrPort{h.backends[1].addr}, time.Now())
	select {
	case got := <-done:
		if got != (result{200, "b"}) {
			t.Errorf("got status %d from backend %q, want 200 from b", got.code, got.backend)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the request still waits on a connect to the backend that left the pool")
	}
}

func TestRetryBudgetStopsRetries(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 2, opts: Options{Attempts: 1, BudgetRatio: 0, BudgetMin: -1}})
	h.backends[0].set(status(503))
	h.backends[1].set(status(503))
	w := h.serve(httptest.NewRequest("GET", "/api/items", nil))
	if w.Code != 503 {
		t.Errorf("status = %d, want 503", w.Code)
	}
	if diff := cmp.Diff([]int64{1, 0}, h.hits()); diff != "" {
		t.Errorf("hits with an empty budget (-want +got):\n%s", diff)
	}
}

func TestNoBackendIs503WithRetryAfter(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 0})
	w := h.serve(httptest.NewRequest("GET", "/", nil))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" {
		t.Errorf("status %d Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
}

// Backends that refuse connections are an unreachable upstream: 503 with
// Retry-After, as in the frontend and the api (it was 502 here).
func TestAllUnreachableIs503(t *testing.T) {
	h := newHarness(t, harnessOpts{dead: 2})
	w := h.serve(httptest.NewRequest("GET", "/", nil))
	if w.Code != 503 || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), `"type":"https://docker-examples.dev/problems/unavailable"`) {
		t.Errorf("status %d Retry-After %q body %s, want 503 unavailable with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
}

func TestPassiveEjection(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, dead: 1, opts: Options{Ejector: balancer.Ejector{After: 2, Base: time.Hour, Max: time.Hour}}})
	for range 10 {
		if w := h.serve(httptest.NewRequest("GET", "/", nil)); w.Code != 200 {
			t.Fatalf("status = %d, want 200", w.Code)
		}
	}
	var dead *balancer.Backend
	for _, b := range h.pool.Backends() {
		if b.Addr != h.backends[0].addr {
			dead = b
		}
	}
	if !dead.EjectedUntil().After(time.Now()) {
		t.Errorf("dead backend not ejected after 10 requests")
	}
	if got := dead.Requests(); got != 2 {
		t.Errorf("dead backend tried %d times, want 2 (then ejected)", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name   string
		remote string
		in     http.Header
		want   map[string]string
	}{
		{"untrusted client's values are replaced", "203.0.113.7:5555",
			http.Header{"X-Forwarded-For": {"1.2.3.4"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil"}, "X-Real-Ip": {"1.2.3.4"}},
			map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "example.test", "X-Real-Ip": "203.0.113.7"}},
		{"trusted proxy's values are kept and appended", "10.1.2.3:5555",
			http.Header{"X-Forwarded-For": {"198.51.100.9"}, "X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"shop.test"}},
			map[string]string{"X-Forwarded-For": "198.51.100.9, 10.1.2.3", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.test", "X-Real-Ip": "198.51.100.9"}},
		{"no header from a trusted proxy", "10.1.2.3:5555", http.Header{},
			map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "example.test", "X-Real-Ip": "10.1.2.3"}},
		// The api's rule, now the lb's too: a hop may carry a port (the lb
		// stopped there and took the proxy for the client).
		{"a hop with a port", "10.1.2.3:5555",
			http.Header{"X-Forwarded-For": {"198.51.100.9:40000, [2001:db8::7]:443"}},
			map[string]string{"X-Real-Ip": "2001:db8::7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{n: 1, trusted: trusted})
			var got http.Header
			h.backends[0].set(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() })
			r := httptest.NewRequest("GET", "http://example.test/api/x", nil)
			r.RemoteAddr = tt.remote
			r.Header = tt.in
			h.serve(r)
			for k, v := range tt.want {
				if got.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v)
				}
			}
		})
	}
}

func TestRequestIDAndServedBy(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	var seen http.Header
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Clone() })

	r := httptest.NewRequest("GET", "/api/x", nil)
	r.Header.Set("X-Request-ID", "abc-123")
	w := h.serve(r)
	if seen.Get("X-Request-ID") != "abc-123" || seen.Get("X-Correlation-ID") != "abc-123" {
		t.Errorf("backend saw ids %q/%q, want abc-123 passed on", seen.Get("X-Request-ID"), seen.Get("X-Correlation-ID"))
	}
	if got := w.Header().Get("X-Request-ID"); got != "abc-123" {
		t.Errorf("response X-Request-ID = %q, want abc-123", got)
	}
	if got := w.Header().Get("X-Served-By"); got != "lb-test" {
		t.Errorf("X-Served-By = %q, want lb-test", got)
	}

	r = httptest.NewRequest("GET", "/api/x", nil)
	r.Header.Set("X-Request-ID", "bad id\x01")
	w = h.serve(r)
	id := w.Header().Get("X-Request-ID")
	if len(id) != 32 || seen.Get("X-Correlation-ID") != id {
		t.Errorf("generated id %q (backend saw %q), want a new 32-char id on both sides", id, seen.Get("X-Correlation-ID"))
	}
}

func TestHopByHopHeadersAreNotForwarded(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	var seen http.Header
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
	})
	r := httptest.NewRequest("GET", "/api/x", nil)
	r.Header.Set("Connection", "X-Client-Hop")
	r.Header.Set("X-Client-Hop", "1")
	r.Header.Set("Proxy-Authorization", "Basic eA==")
	r.Header.Set("X-Kept", "yes")
	w := h.serve(r)
	for _, k := range []string{"X-Client-Hop", "Proxy-Authorization"} {
		if v := seen.Get(k); v != "" {
			t.Errorf("backend saw %s: %q", k, v)
		}
	}
	if seen.Get("X-Kept") != "yes" {
		t.Errorf("end-to-end header X-Kept lost")
	}
	for _, k := range []string{"X-Secret-Hop", "Keep-Alive"} {
		if v := w.Header().Get(k); v != "" {
			t.Errorf("client saw %s: %q", k, v)
		}
	}
}

func TestRoutingHidesMetricsAndAnswersHealth(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	for _, tt := range []struct {
		path string
		want int
		from string // "lb" or "backend"
	}{
		{"/metrics", 404, "lb"},
		{"/metrics/x", 404, "lb"},
		{"/api/../metrics", 404, "lb"},
		{"//metrics", 404, "lb"},
		{"/%6detrics", 404, "lb"},
		{"/health", 200, "lb"},
		{"/api/metrics", 200, "backend"},
		{"/api/./items", 200, "backend"},
	} {
		r := httptest.NewRequest("GET", "http://example.test/", nil)
		var err error
		r.URL, err = url.ParseRequestURI(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		r.RequestURI = tt.path
		w := h.serve(r)
		from := "lb"
		if w.Header().Get("X-Backend") != "" {
			from = "backend"
		}
		if w.Code != tt.want || from != tt.from {
			t.Errorf("GET %s = %d from %s, want %d from %s", tt.path, w.Code, from, tt.want, tt.from)
		}
	}
	h.health.Drain()
	if w := h.serve(httptest.NewRequest("GET", "/health", nil)); w.Code != 503 {
		t.Errorf("GET /health while draining = %d, want 503", w.Code)
	}
}

func TestForwardsCleanedPath(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	r := httptest.NewRequest("GET", "/api/x/../items?q=1", nil)
	w := h.serve(r)
	if got := w.Body.String(); got != "a GET /api/items?q=1" {
		t.Errorf("backend saw %q, want the cleaned path", got)
	}
}

func TestServerSentEventsAreFlushedAtOnce(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	release := make(chan struct{})
	h.backends[0].set(flushedThenReleased("text/event-stream", "id: 1\ndata: first\n\n", "data: second\n\n", release))
	srv := h.server()
	br, line, err := getFirstLine(t, http.DefaultClient, srv.URL+"/api/events")
	if err != nil || line != "id: 1\n" {
		t.Fatalf("first line = %q, %v: the event was not flushed before the stream went on", line, err)
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("reading the rest: %v", err)
	}
	if string(rest) != "data: first\n\ndata: second\n\n" {
		t.Errorf("rest = %q", rest)
	}
}

// A body without a length that the backend sends at once (chunked, the
// last chunk included) leaves with a Content-Length, whole; a large one
// arrives whole and in order too.
func TestUnsizedBodiesArriveWhole(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		var b strings.Builder
		b.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
		for i := 0; i < n; i += 1000 {
			m := min(1000, n-i)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", m, strings.Repeat(string(rune('a'+i/1000%26)), m))
		}
		b.WriteString("0\r\n\r\n")
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, b.String()) // one write: all of it at once
	})
	srv := h.server()
	for _, n := range []int{0, 1000, 2 << 10, 2<<10 + 1, 20000, 300 << 10} {
		resp, err := http.Get(srv.URL + "/api/x?n=" + strconv.Itoa(n))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != n {
			t.Fatalf("n=%d: read %d bytes, %v", n, len(b), err)
		}
		if n <= 20000 && resp.ContentLength != int64(n) {
			t.Errorf("n=%d: Content-Length %d, want %d (the whole body came at once)", n, resp.ContentLength, n)
		}
		for i := 0; i < n; i += 1000 {
			if b[i] != byte('a'+i/1000%26) {
				t.Fatalf("n=%d: byte %d = %q: the body is out of order", n, i, b[i])
			}
		}
	}
}

// A body without a length that comes slowly (not an event stream) is
// passed on as it comes, not held until it ends.
func TestSlowUnsizedBodyFlows(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	release := make(chan struct{})
	h.backends[0].set(flushedThenReleased("application/x-ndjson", "{\"n\":1}\n", "{\"n\":2}\n", release))
	srv := h.server()
	br, line, err := getFirstLine(t, http.DefaultClient, srv.URL+"/api/export")
	if err != nil || line != "{\"n\":1}\n" {
		t.Fatalf("first line = %q, %v: held back until the body ended", line, err)
	}
	close(release)
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "{\"n\":2}\n" {
		t.Errorf("rest = %q, %v", rest, err)
	}
}

func TestShutdownEndsStreamsPolitely(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].set(holdEvents)
	srv := h.server()
	br, _, err := getFirstLine(t, http.DefaultClient, srv.URL+"/api/events")
	if err != nil {
		t.Fatal(err)
	}
	h.streams.CloseAll()
	wantCleanEnd(t, br)
}

func TestWebSocketUpgradeIsTunnelled(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			w.WriteHeader(400)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		buf := make([]byte, 4)
		if _, err := io.ReadFull(brw, buf); err != nil {
			return
		}
		c.Write([]byte(strings.ToUpper(string(buf))))
	})
	srv := h.server()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(c, "GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\nping")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("X-Served-By") != "lb-test" {
		t.Fatalf("status %d X-Served-By %q, want 101 from lb-test", resp.StatusCode, resp.Header.Get("X-Served-By"))
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "PING" {
		t.Errorf("tunnelled echo = %q, %v; want PING", got, err)
	}
}

func TestOverloadAnswersFast503(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, edge: EdgeOptions{MaxInFlight: 1, QueueSize: 0, QueueTimeout: time.Millisecond}})
	entered := make(chan struct{})
	release := make(chan struct{})
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})
	srv := h.server()
	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	resp, err := http.Get(srv.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("second request: %d Retry-After %q, want 503 with Retry-After 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(release)
	if got := <-done; got != 200 {
		t.Errorf("first request = %d, want 200", got)
	}
}

func TestPerBackendCapQueuesThenServes(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, perCap: 1, opts: Options{QueueSize: 10, QueueTimeout: time.Minute}})
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		if r.URL.Path == "/first" {
			<-release
		}
	})
	srv := h.server()
	codes := make(chan int, 2)
	get := func(p string) {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			codes <- 0
			return
		}
		resp.Body.Close()
		codes <- resp.StatusCode
	}
	go get("/first")
	<-entered
	go get("/second")
	// The second waits in the queue until the first finishes.
	for h.fwd.waitq.queued.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if a, b := <-codes, <-codes; a != 200 || b != 200 {
		t.Errorf("statuses %d, %d; want both 200", a, b)
	}
}

func TestPerBackendCapTimesOutWith503(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, perCap: 1, opts: Options{QueueSize: 10, QueueTimeout: 20 * time.Millisecond}})
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			close(entered)
			<-release
		}
	})
	srv := h.server()
	go func() {
		if resp, err := http.Get(srv.URL + "/first"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	resp, err := http.Get(srv.URL + "/second")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, want 503 with Retry-After", resp.StatusCode)
	}
}

func TestCookieStickinessThroughTheProxy(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 3, policy: config.Policy{Kind: config.Cookie, Arg: "lb"}})
	w := h.serve(httptest.NewRequest("GET", "/", nil))
	first := w.Header().Get("X-Backend")
	cookie := w.Result().Cookies()
	if len(cookie) != 1 || cookie[0].Name != "lb" || !cookie[0].HttpOnly {
		t.Fatalf("cookies = %v, want one HttpOnly cookie lb", cookie)
	}
	for range 5 {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(cookie[0])
		w := h.serve(r)
		if got := w.Header().Get("X-Backend"); got != first {
			t.Fatalf("sticky request went to %s, want %s", got, first)
		}
		if len(w.Result().Cookies()) != 0 {
			t.Errorf("cookie set again although it was right")
		}
	}
}

func TestAccessLogLine(t *testing.T) {
	var buf strings.Builder
	h := newHarness(t, harnessOpts{n: 1, withLog: &syncWriter{w: &buf}})
	r := httptest.NewRequest("GET", "/api/items?secret=1", nil)
	r.Header.Set("X-Request-ID", "req-1")
	r.Header.Set("User-Agent", "test \"agent\"")
	h.serve(r)
	h.serve(httptest.NewRequest("GET", "/health", nil))
	h.handler.(*Edge).log.Flush()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1 (no line for /health):\n%s", len(lines), out)
	}
	for _, want := range []string{`"msg":"request"`, `"correlation_id":"req-1"`, `"path":"/api/items"`, `"status":200`, `"pool":"api"`, `"user_agent":"test \"agent\""`} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %s:\n%s", want, lines[0])
		}
	}
	if strings.Contains(lines[0], "secret") {
		t.Errorf("log line contains the query string: %s", lines[0])
	}
}

// A client's 12 KiB User-Agent and path (under the 16 KiB header cap) go
// into the access log cut to logging.MaxLoggedValue, marked as cut.
func TestAccessLogClipsClientValues(t *testing.T) {
	var buf strings.Builder
	h := newHarness(t, harnessOpts{n: 1, withLog: &syncWriter{w: &buf}})
	long := strings.Repeat("x", 12<<10)
	r := httptest.NewRequest("GET", "/api/"+long, nil)
	r.Header.Set("User-Agent", long)
	h.serve(r)
	h.handler.(*Edge).log.Flush()
	line := strings.TrimSpace(buf.String())
	if len(line) > 3*logging.MaxLoggedValue {
		t.Errorf("log line is %d bytes for a %d-byte path and User-Agent; want them cut", len(line), len(long))
	}
	if strings.Count(line, "bytes]") != 2 {
		t.Errorf("log line does not mark both values as cut: %.300s", line)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func TestIdleConnectionClosedByBackendIsNotUsed(t *testing.T) {
	// A backend that closes its keep-alive connection after each answer
	// (as one that restarts does): a POST must never be lost on the
	// stale connection.
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].srv.Config.SetKeepAlivesEnabled(true)
	for i := range 20 {
		if i%2 == 1 {
			h.backends[0].srv.CloseClientConnections()
			// Wait until the lb's idle connection sees the close.
			d := h.pool.Backends()[0].Data.(*backendData)
			deadline := time.Now().Add(5 * time.Second)
			for d.conns.idleCount() > 0 && time.Now().Before(deadline) {
				c := d.conns
				c.mu.Lock()
				alive := len(c.idle) > 0 && c.idle[0].alive()
				c.mu.Unlock()
				if !alive {
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		w := h.serve(httptest.NewRequest("POST", "/api/items", strings.NewReader("x")))
		if w.Code != 200 {
			t.Fatalf("POST %d = %d, want 200", i, w.Code)
		}
	}
}

func TestEarlyAnswerToALargeUploadIsPassedOn(t *testing.T) {
	// The backend refuses a body that is too large after reading 1 KiB of
	// it and closes: the client must see its 413, not a 502.
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1<<10)
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "too large")
	})
	srv := h.server()
	body := strings.NewReader(strings.Repeat("x", 8<<20))
	resp, err := http.Post(srv.URL+"/api/upload", "application/octet-stream", body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too large" {
		t.Errorf("got %d %q, want 413 too large", resp.StatusCode, b)
	}
}
