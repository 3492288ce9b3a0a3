package site

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/services/frontend/internal/apiproxy"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
)

// problem is an RFC 9457 problem detail, shaped as the API's.
type problem struct {
	Type          string `json:"type"`
	Title         string `json:"title"`
	Status        int    `json:"status"`
	Detail        string `json:"detail,omitempty"`
	Instance      string `json:"instance,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

const problemBase = "https://docker-examples.dev/problems/"

// writeError is the one error handler: it maps an error to a status and a
// problem type, logs a server-side failure once, and writes problem+json.
func (s *Site) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if isClientGone(r, err) {
		s.log.DebugContext(r.Context(), "client went away", "path", r.URL.Path)
		return
	}
	p := problem{Instance: r.URL.Path, CorrelationID: logging.CorrelationID(r.Context())}
	switch {
	case errors.Is(err, assets.ErrNotFound), errors.Is(err, errNotFound):
		p.Status, p.Type, p.Title = http.StatusNotFound, "not-found", "Not found"
	case errors.Is(err, errMethodNotAllowed):
		p.Status, p.Type, p.Title = http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"
	case errors.Is(err, apiproxy.ErrUnavailable):
		p.Status, p.Type, p.Title = http.StatusBadGateway, "unavailable", "The API is unavailable"
		p.Detail = "The frontend could not reach the API. Try again in a moment."
		s.metrics.proxyErrors.Inc()
		s.log.WarnContext(r.Context(), "api unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		p.Status, p.Type, p.Title = http.StatusInternalServerError, "internal", "Internal error"
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.Type = problemBase + p.Type
	h := w.Header()
	for k, v := range security {
		if _, ok := h[k]; !ok {
			h[k] = v
		}
	}
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Etag")
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
