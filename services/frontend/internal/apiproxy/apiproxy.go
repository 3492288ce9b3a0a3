// Package apiproxy forwards the UI's API calls to the API service, so the
// browser talks to one origin and the basic stack needs no CORS. Responses
// stream through unbuffered: an SSE stream reaches the browser event by
// event, and ends when the server shuts down.
package apiproxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/docker-examples/stack/platform/logging"
)

// ErrUnavailable wraps every failure to get an answer from the API (refused,
// timed out, reset before the response headers). Callers render it as 503.
var ErrUnavailable = errors.New("the API is unavailable")

// Options configure a Proxy.
type Options struct {
	// OnError renders a failure before any response byte was written; err
	// wraps ErrUnavailable, or is the request context's error when the client
	// went away. Required.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// DefaultHeader is set on every proxied response that does not carry
	// the header itself, e.g. security headers the API did not send.
	DefaultHeader http.Header
	// Transport overrides the tuned default transport (tests).
	Transport http.RoundTripper
	// StreamOpened and StreamClosed, when set, are called as event streams
	// open and close (a gauge of open streams).
	StreamOpened, StreamClosed func()
}

// Proxy is an http.Handler forwarding requests to one API base URL. It is
// safe for concurrent use.
type Proxy struct {
	rp       *httputil.ReverseProxy
	opts     Options
	shutdown context.Context
	stop     context.CancelFunc
}

// New returns a proxy to target (scheme and host; the request path is kept).
func New(target *url.URL, log *slog.Logger, opts Options) *Proxy {
	if opts.Transport == nil {
		opts.Transport = newTransport()
	}
	p := &Proxy{opts: opts}
	p.shutdown, p.stop = context.WithCancel(context.Background())
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// Keep the Host the browser used, as Caddy does, so the API sees
			// the same origin as the browser (Origin checks, absolute URLs).
			pr.Out.Host = pr.In.Host
			// Keep the chain of earlier proxies and append this hop's peer;
			// the API decides which hops it trusts (TRUSTED_PROXIES).
			if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetXForwarded()
			if id := logging.CorrelationID(pr.In.Context()); id != "" {
				pr.Out.Header.Set("X-Correlation-ID", id)
			}
		},
		Transport:     opts.Transport,
		FlushInterval: -1, // flush after every write: nothing is held back
		BufferPool:    bufferPool{},
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		ModifyResponse: func(res *http.Response) error {
			// The correlation id is already on the response (same value).
			res.Header.Del("X-Correlation-ID")
			for k, v := range opts.DefaultHeader {
				if _, ok := res.Header[k]; !ok {
					res.Header[k] = v
				}
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if ctxErr := r.Context().Err(); ctxErr != nil {
				opts.OnError(w, r, ctxErr)
				return
			}
			opts.OnError(w, r, fmt.Errorf("%w: %s %s: %v", ErrUnavailable, r.Method, r.URL.Path, err))
		},
	}
	return p
}

// ServeHTTP forwards one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.rp.ServeHTTP(w, r)
}

// ServeStream forwards a long-lived stream such as Server-Sent Events: the
// server's read and write deadlines are lifted for this request (they are
// meant for ordinary requests), and the stream ends when Shutdown is called,
// so a graceful stop does not wait for browsers to hang up. The browser's
// EventSource reconnects, with Last-Event-ID, to a running instance.
func (p *Proxy) ServeStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// Errors mean the writer cannot lift deadlines (a test recorder); the
	// stream then simply lives under the server's timeouts.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(p.shutdown, cancel)
	defer stop()
	if p.opts.StreamOpened != nil {
		p.opts.StreamOpened()
		defer p.opts.StreamClosed()
	}
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// Shutdown ends every open stream; ordinary requests are left to finish.
// It is meant for http.Server.RegisterOnShutdown.
func (p *Proxy) Shutdown() { p.stop() }

// newTransport is tuned for one busy upstream: a large idle pool (the
// default keeps 2 connections per host, which makes every burst dial),
// bounded dials and header waits, no transparent compression (the browser's
// Accept-Encoding passes through), and no proxy from the environment.
func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// bufferPool lends 32 KiB copy buffers to the reverse proxy.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
