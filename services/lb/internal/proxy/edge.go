// Package proxy is the lb's request path, an http.Handler made of
// http.Handlers:
//
//	Edge (request id, X-Served-By, overall in-flight cap, access log)
//	 └─ Router (path → pool; the lb's own /health; backends' /metrics hidden)
//	     └─ Forwarder per pool (pick, forward, retry, stream, tunnel)
//
// The Forwarder speaks HTTP/1.1 to backends over its own connection
// pools (upstream.go) instead of net/http's Transport: requests run on
// the handler's goroutine, idle connections are checked before reuse,
// and it knows exactly whether a byte reached a backend, which is what
// safe retries need.
package proxy

import (
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
)

// Edge is the outermost handler. It gives each request its id and its
// X-Served-By header (and Strict-Transport-Security over TLS), enforces the overall in-flight cap (with a short
// queue, then a fast 503 with Retry-After) and writes the access log.
type Edge struct {
	next     http.Handler
	servedBy []string
	proxies  *forwarded.Resolver
	gate     *gate
	clients  *clientCap // nil: no per-client cap
	log      *AccessLog // nil: no access log
	rejected interface{ Inc() }
	busy     interface{ Inc() } // refusals at the per-client cap
	hsts     []string
}

// EdgeOptions configure an Edge.
type EdgeOptions struct {
	InstanceName string
	Trusted      []netip.Prefix
	MaxInFlight  int
	QueueSize    int
	QueueTimeout time.Duration
	// MaxInFlightPerClient caps the requests one client address has in
	// flight (0: no cap); beyond it the answer is a fast 429. Event
	// streams and tunnels give their slot back (they have their own cap).
	MaxInFlightPerClient int
	// HSTS is the Strict-Transport-Security value sent on every answer
	// over TLS ("" sends none).
	HSTS      string
	AccessLog *AccessLog
}

// NewEdge wraps next.
func NewEdge(next http.Handler, o EdgeOptions, m *metrics.Metrics) *Edge {
	e := &Edge{
		next:     next,
		servedBy: []string{o.InstanceName},
		proxies:  forwarded.New(o.Trusted),
		gate:     newGate(o.MaxInFlight, o.QueueSize, o.QueueTimeout),
		clients:  newClientCap(o.MaxInFlightPerClient),
		log:      o.AccessLog,
		rejected: m.Rejection("max_inflight"),
		busy:     m.Rejection("client_inflight"),
	}
	if o.HSTS != "" {
		e.hsts = []string{o.HSTS}
	}
	return e
}

// InFlight is the number of requests being served.
func (e *Edge) InFlight() int64 { return e.gate.inflight.Load() }

func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := getExchange(w)
	x.start = time.Now()
	x.requestID = correlation.From(r.Header)
	x.fwd = forwardedFor(r, e.proxies)
	w.Header()["X-Served-By"] = e.servedBy
	if r.TLS != nil && e.hsts != nil {
		w.Header()["Strict-Transport-Security"] = e.hsts
	}
	defer e.finish(x, r)
	if e.clients != nil {
		if !e.clients.enter(x.fwd.Client) {
			e.busy.Inc()
			errClientBusy.write(x, r, x.requestID)
			return
		}
		x.clientSlot = e.clients
		defer x.leaveEdge()
	}
	if !e.gate.enter(r.Context()) {
		e.rejected.Inc()
		errOverloaded.write(x, r, x.requestID)
		return
	}
	x.edgeSlot = e.gate
	defer x.leaveEdge()
	e.next.ServeHTTP(x, r)
}

func (e *Edge) finish(x *exchange, r *http.Request) {
	if x.Status == 0 {
		x.Status = http.StatusOK
	}
	if e.log != nil && !x.noAccessLog {
		e.log.log(x, r, time.Now())
	}
	putExchange(x)
}

// Router sends each request to the handler of the pool its path belongs
// to. It answers /health itself and hides the backends' /metrics.
type Router struct {
	routes []route // longest path first
	health http.Handler
}

type route struct {
	path   string
	prefix bool
	h      http.Handler
}

// Route maps a path (exact, or a prefix when it ends in "/") to a handler.
type Route struct {
	Path    string
	Handler http.Handler
}

// NewRouter builds a router. health answers GET /health for the lb.
func NewRouter(routes []Route, health http.Handler) *Router {
	rt := &Router{health: health}
	for _, r := range routes {
		rt.routes = append(rt.routes, route{path: r.Path, prefix: strings.HasSuffix(r.Path, "/"), h: r.Handler})
	}
	// Longest first, exact before prefix on equal length.
	for i := 1; i < len(rt.routes); i++ {
		for j := i; j > 0 && longer(rt.routes[j], rt.routes[j-1]); j-- {
			rt.routes[j], rt.routes[j-1] = rt.routes[j-1], rt.routes[j]
		}
	}
	return rt
}

func longer(a, b route) bool {
	if len(a.path) != len(b.path) {
		return len(a.path) > len(b.path)
	}
	return !a.prefix && b.prefix
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if !cleanPath(p) {
		// Match (and forward) the cleaned path, so /api/../metrics
		// cannot sneak past the rules below.
		trailing := strings.HasSuffix(p, "/")
		p = path.Clean("/" + p)
		if trailing && p != "/" {
			p += "/"
		}
		r.URL.Path, r.URL.RawPath = p, ""
		r.RequestURI = "" // the Forwarder rebuilds the target from r.URL
	}
	if p == "/health" {
		if x, ok := w.(*exchange); ok {
			x.noAccessLog = true
		}
		rt.health.ServeHTTP(w, r)
		return
	}
	if p == "/metrics" || strings.HasPrefix(p, "/metrics/") {
		errNotFound.write(w, r, requestIDOf(w, r))
		return
	}
	for i := range rt.routes {
		ro := &rt.routes[i]
		if p == ro.path || ro.prefix && strings.HasPrefix(p, ro.path) {
			ro.h.ServeHTTP(w, r)
			return
		}
	}
	errNotFound.write(w, r, requestIDOf(w, r))
}

func requestIDOf(w http.ResponseWriter, r *http.Request) string {
	if x, ok := w.(*exchange); ok {
		return x.requestID
	}
	return correlation.From(r.Header)
}

// Health is the lb's own /health: 200 while serving, 503 once draining
// started, so Docker and upstream balancers stop sending traffic during
// the grace period.
type Health struct{ draining atomic.Bool }

// Drain makes /health fail from now on.
func (h *Health) Drain() { h.draining.Store(true) }

func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		errGetOnly.write(w, r, requestIDOf(w, r))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if h.draining.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"draining"}`))
		return
	}
	_, _ = w.Write([]byte(`{"status":"ok"}`))
}
