package site

import (
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docker-examples/stack/platform/telemetry"
)

// routes is the whole route table. UI routes answer with index.html, whose
// script renders the view for the path (history-API routing); they must
// match the routes registered in the UI's app.js.
func (s *Site) routes(reg *prometheus.Registry) {
	doc := s.adapt(s.serveDocument)
	api := http.Handler(s.proxy)

	// The UI: documents and fingerprinted assets.
	s.handle("GET /{$}", "ui", doc)
	s.handle("GET /index.html", "ui", doc)
	s.handle("GET /items/{id}", "ui", doc)
	s.handle("GET /items/{id}/edit", "ui", doc)
	s.handle("GET /status", "ui", doc)
	s.handle("GET /signin", "ui", doc)
	s.handle("GET /import", "ui", doc)
	s.handle("GET /assets/", "assets", s.adapt(s.ui.ServeAsset))

	// The API, forwarded: every method, and the event stream unbuffered
	// and without deadlines.
	s.handle("GET /api/events", "api_events", http.HandlerFunc(s.proxy.ServeStream))
	s.handle("/api/", "api", api)
	s.handle("/api", "api", api)

	// Operations.
	s.handle("GET /health", "health", http.HandlerFunc(health))
	s.handle("GET /metrics", "metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	s.handle("/", "other", s.adapt(s.fallback))
}

// handle registers h at pattern with the middleware every route has; route
// is the metrics label.
func (s *Site) handle(pattern, route string, h http.Handler) {
	secure := route != "api" && route != "api_events" // the API sets its own headers
	h = s.instrument(route, withCorrelationID(withSecurityHeaders(secure, s.recoverer(h))))
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetRoute(r.Context(), r.Method, route) // the span's name, when traced
		h.ServeHTTP(w, r)
	}))
}

func health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

// serveDocument answers a UI route with index.html.
func (s *Site) serveDocument(w http.ResponseWriter, r *http.Request) error {
	s.index.Serve(w, r, http.StatusOK)
	return nil
}

// fallback answers what no route matched: a GET for an unknown page gets
// index.html with status 404 (the UI shows "page not found" in its own
// layout); another method on a UI path is 405, anything else 404.
func (s *Site) fallback(w http.ResponseWriter, r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		s.index.Serve(w, r, http.StatusNotFound)
		return nil
	}
	probe := r.Clone(r.Context())
	probe.Method = http.MethodGet
	if _, pattern := s.mux.Handler(probe); pattern != "/" {
		w.Header().Set("Allow", "GET, HEAD")
		return errMethodNotAllowed
	}
	return errNotFound
}
