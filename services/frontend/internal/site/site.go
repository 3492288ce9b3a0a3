// Package site is the frontend's HTTP surface: the route table, the
// middleware every response passes through (correlation id, security
// headers, metrics), and the one error handler that renders problem+json.
package site

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/frontend/internal/apiproxy"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
)

// Config is what a Site needs.
type Config struct {
	// UI is the built asset set; it must contain /index.html.
	UI *assets.Set
	// APIURL is where /api/* is forwarded.
	APIURL *url.URL
	Log    *slog.Logger
	// Registry receives the site's metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Transport overrides the proxy's transport (tests).
	Transport http.RoundTripper
	// Telemetry traces the requests that reach ServeHTTP (the API proxy,
	// the event stream, the rarer pages; not the fast path's documents and
	// assets), and the API receives their span as its parent. Nil: none.
	Telemetry *telemetry.Telemetry
}

// Site is the frontend's root http.Handler. It is safe for concurrent use.
type Site struct {
	mux     *http.ServeMux
	traced  http.Handler // mux, in a server span when tracing is on
	ui      *assets.Set
	index   *assets.File
	proxy   *apiproxy.Proxy
	log     *slog.Logger
	metrics *metrics
}

// New builds the site. It fails when the UI has no index.html.
func New(cfg Config) (*Site, error) {
	index, ok := cfg.UI.Lookup("/index.html")
	if !ok {
		return nil, errors.New("site: the UI has no index.html")
	}
	s := &Site{
		mux:     http.NewServeMux(),
		ui:      cfg.UI,
		index:   index,
		log:     cfg.Log,
		metrics: newMetrics(cfg.Registry),
	}
	s.proxy = apiproxy.New(cfg.APIURL, cfg.Log, apiproxy.Options{
		OnError:       func(w http.ResponseWriter, r *http.Request, err error) { s.writeError(w, r, err) },
		DefaultHeader: securityHeader(),
		Transport:     cfg.Transport,
		StreamOpened:  s.metrics.streams.Inc,
		StreamClosed:  s.metrics.streams.Dec,
	})
	s.routes(cfg.Registry)
	s.traced = s.mux
	if cfg.Telemetry != nil {
		s.traced = cfg.Telemetry.ProxyHandler(s.mux, nil)
	}
	return s, nil
}

// ServeHTTP serves one request.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.traced.ServeHTTP(w, r)
}

// Shutdown ends open event streams, so a graceful stop need not wait for
// browsers to disconnect. Use it as serve.Options.OnShutdown.
func (s *Site) Shutdown() { s.proxy.Shutdown() }

// handlerFunc is a handler that returns its error to the one error handler.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Site) adapt(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

var (
	errNotFound         = errors.New("not found")
	errMethodNotAllowed = errors.New("method not allowed")
)

// isClientGone reports an error caused by the client going away.
func isClientGone(r *http.Request, err error) bool {
	return errors.Is(err, context.Canceled) && r.Context().Err() != nil
}
