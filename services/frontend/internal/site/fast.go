package site

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/problem"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
)

// The frontend's server is fasthttp. Its hot routes — the UI's documents,
// its fingerprinted assets and /health, every GET and HEAD a page load makes
// — are answered from memory by FastHandler with preset header bytes;
// net/http's server spends twice the CPU on the same response, mostly on
// the header map the fourteen headers need. Every other request (the API,
// its event stream, /metrics, errors, odd paths) goes to the Site's
// net/http handler through fasthttp's adaptor, which streams flushed
// responses. ServeHTTP stays the reference: TestFastMatchesServeHTTP holds
// the fast path to the same status, headers and body.

// fastRoute is what the fast path knows of one path.
type fastRoute struct {
	file    *assets.File // nil for /health
	route   string       // metrics label
	get200  prometheus.Counter
	observe prometheus.Observer
}

// fastRep is a representation's header values as bytes.
type fastRep struct {
	cacheControl, etag, contentType, encoding []byte
}

// fastHeaders are the security headers as preset byte pairs.
var fastHeaders = func() [][2][]byte {
	var kv [][2][]byte
	for k, v := range security {
		kv = append(kv, [2][]byte{[]byte(k), []byte(v[0])})
	}
	return kv
}()

var (
	hdrCacheControl   = []byte("Cache-Control")
	hdrETag           = []byte("Etag")
	hdrVary           = []byte("Vary")
	hdrContentEncode  = []byte("Content-Encoding")
	hdrCorrelationID  = []byte("X-Correlation-Id")
	valAcceptEncoding = []byte("Accept-Encoding")
	valNoStore        = []byte("no-store")
	valJSON           = []byte("application/json")
	healthBody        = []byte(`{"status":"ok"}`)
)

// FastHandler returns the frontend's fasthttp handler: the hot routes
// answered directly, everything else passed to ServeHTTP. Requests passed on
// keep running when the server shuts down (fasthttp cancels their context):
// in-flight API calls finish, and event streams end through Shutdown.
func (s *Site) FastHandler() fasthttp.RequestHandler {
	newRoute := func(file *assets.File, route string) *fastRoute {
		return &fastRoute{file: file, route: route,
			get200:  s.metrics.requests.WithLabelValues(route, http.MethodGet, "200"),
			observe: s.metrics.duration.WithLabelValues(route)}
	}
	routes := map[string]*fastRoute{"/health": newRoute(nil, "health")}
	for _, p := range []string{"/", "/index.html", "/status", "/signin", "/import"} {
		routes[p] = newRoute(s.index, "ui")
	}
	for _, f := range s.ui.Files() {
		if f.Immutable {
			routes[f.URLPath] = newRoute(f, "assets")
		}
	}
	reps := map[*assets.Representation]*fastRep{}
	for _, f := range s.ui.Files() {
		for _, rep := range f.Representations() {
			reps[rep] = &fastRep{
				cacheControl: []byte(rep.CacheControl()),
				etag:         []byte(rep.ETag()),
				contentType:  []byte(rep.ContentType()),
				encoding:     []byte(rep.Encoding()),
			}
		}
	}
	item := newRoute(s.index, "ui")

	// The adaptor's request context is the fasthttp RequestCtx, which
	// fasthttp recycles for the connection's next request once this one
	// ends, while a streamed answer's handler (the event stream) may still
	// run and look up context values. The handlers get a context of their
	// own instead: never cancelled by fasthttp (as before: a stream ends
	// when its writes fail, a server stop drains), with no values behind it.
	slow := fasthttpadaptor.NewFastHTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r.WithContext(context.Background()))
	}))
	return func(ctx *fasthttp.RequestCtx) {
		get, head := ctx.IsGet(), ctx.IsHead()
		if !get && !head {
			slow(ctx)
			return
		}
		path, ok := cleanPath(ctx.RequestURI())
		if !ok {
			slow(ctx)
			return
		}
		r := routes[string(path)] // no allocation: the compiler looks up with the bytes
		if r == nil {
			if !isItemPage(path) {
				slow(ctx)
				return
			}
			r = item
		}
		code := serveFast(ctx, r, reps)
		if code == http.StatusOK && get {
			r.get200.Inc()
		} else {
			s.metrics.requests.WithLabelValues(r.route, string(ctx.Method()), strconv.Itoa(code)).Inc()
		}
		r.observe.Observe(time.Since(ctx.Time()).Seconds())
	}
}

// serveFast writes the response for r and returns its status code.
func serveFast(ctx *fasthttp.RequestCtx, r *fastRoute, reps map[*assets.Representation]*fastRep) int {
	h := &ctx.Response.Header
	if id := ctx.Request.Header.Peek(correlation.Header); correlation.Valid(id) {
		h.SetCanonical(hdrCorrelationID, id)
	} else if id := ctx.Request.Header.Peek(correlation.RequestIDHeader); correlation.Valid(id) {
		h.SetCanonical(hdrCorrelationID, id)
	} else {
		var b [32]byte
		h.SetCanonical(hdrCorrelationID, correlation.AppendNew(b[:0]))
	}
	for _, kv := range fastHeaders {
		h.SetCanonical(kv[0], kv[1])
	}
	if r.file == nil { // /health
		h.SetContentTypeBytes(valJSON)
		h.SetCanonical(hdrCacheControl, valNoStore)
		ctx.Response.SetBodyRaw(healthBody)
		return http.StatusOK
	}
	rep := r.file.Negotiate(string(ctx.Request.Header.Peek("Accept-Encoding")))
	fr := reps[rep]
	h.SetCanonical(hdrCacheControl, fr.cacheControl)
	h.SetCanonical(hdrETag, fr.etag)
	if rep.Vary() {
		h.SetCanonical(hdrVary, valAcceptEncoding)
	}
	if rep.NotModified(string(ctx.Request.Header.Peek("If-None-Match"))) {
		ctx.Response.SetStatusCode(http.StatusNotModified)
		ctx.Response.SkipBody = true
		return http.StatusNotModified
	}
	h.SetContentTypeBytes(fr.contentType)
	if len(fr.encoding) > 0 {
		h.SetCanonical(hdrContentEncode, fr.encoding)
	}
	ctx.Response.SetBodyRaw(rep.Body())
	return http.StatusOK
}

// cleanPath returns the path of a request target when it is already in the
// form the mux would route without a redirect or unescaping: origin-form,
// no dot segments, no empty segments, no percent escapes. Anything else
// takes the net/http route, which handles it in full.
func cleanPath(uri []byte) ([]byte, bool) {
	if len(uri) == 0 || uri[0] != '/' {
		return nil, false
	}
	path := uri
	for i, c := range uri {
		if c == '?' {
			path = uri[:i]
			break
		}
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case c == '%' || c == '#' || c < 0x21 || c > 0x7e:
			return nil, false
		case c == '/' && i > 0 && path[i-1] == '/':
			return nil, false
		case c == '.' && path[i-1] == '/' && (i+1 == len(path) || path[i+1] == '/' ||
			path[i+1] == '.' && (i+2 == len(path) || path[i+2] == '/')):
			return nil, false
		}
	}
	return path, true
}

// isItemPage reports whether path is /items/{id} or /items/{id}/edit.
func isItemPage(path []byte) bool {
	const prefix = "/items/"
	if len(path) <= len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	rest := path[len(prefix):]
	for i, c := range rest {
		if c == '/' {
			return i > 0 && string(rest[i:]) == "/edit"
		}
	}
	return true
}

// Server returns the fasthttp server for the site, with the timeouts every
// server of the stack has (see platform/serve) and limits fit for a browser:
// 16 KiB of request header (cookies), 1 MiB of body (the API's JSON). A
// request the server cannot parse gets problem+json, as every error does.
func (s *Site) Server() Server {
	return Server{&fasthttp.Server{
		Handler:                      s.FastHandler(),
		ErrorHandler:                 s.fastError,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 60 * time.Second, // event streams lift it for themselves
		IdleTimeout:                  120 * time.Second,
		ReadBufferSize:               16 << 10,
		MaxRequestBodySize:           1 << 20,
		CloseOnShutdown:              true,
		DisablePreParseMultipartForm: true,
		SecureErrorLogMessage:        true,
		Logger:                       fastLogger{s.log},
	}}
}

// Server is the frontend's HTTP server, fasthttp's, as platform/serve.Run
// drives it.
type Server struct{ *fasthttp.Server }

// Shutdown stops accepting, closes idle connections and waits for the
// others until ctx ends.
func (s Server) Shutdown(ctx context.Context) error { return s.ShutdownWithContext(ctx) }

// fastError answers a request fasthttp could not read.
func (s *Site) fastError(ctx *fasthttp.RequestCtx, err error) {
	k := problem.BadRequest
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		k = problem.HeaderTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		k = problem.PayloadTooLarge
	}
	var b [32]byte
	id := correlation.AppendNew(b[:0])
	p := problem.New(k, "")
	p.CorrelationID = string(id)
	h := &ctx.Response.Header
	for _, kv := range fastHeaders {
		h.SetCanonical(kv[0], kv[1])
	}
	h.SetCanonical(hdrCorrelationID, id)
	h.SetContentType(problem.ContentType)
	h.SetCanonical(hdrCacheControl, valNoStore)
	ctx.SetConnectionClose()
	ctx.SetStatusCode(k.Status)
	ctx.SetBody(p.AppendJSON(nil))
}

// fastLogger passes fasthttp's log lines to slog.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
}
