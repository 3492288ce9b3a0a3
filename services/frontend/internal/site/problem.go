package site

import (
	"errors"
	"net/http"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/problem"
	"github.com/docker-examples/stack/services/frontend/internal/apiproxy"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
)

// writeError is the one error handler: it maps an error to a problem kind,
// logs a server-side failure once, and writes problem+json with the stack's
// one writer. An API that cannot be reached is 503, as an unreachable
// upstream is in the lb and the api.
func (s *Site) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if isClientGone(r, err) {
		s.log.DebugContext(r.Context(), "client went away", "path", r.URL.Path)
		return
	}
	var p problem.Problem
	switch {
	case errors.Is(err, assets.ErrNotFound), errors.Is(err, errNotFound):
		p = problem.New(problem.NotFound, "")
	case errors.Is(err, errMethodNotAllowed):
		p = problem.New(problem.MethodNotAllowed, "")
	case errors.Is(err, apiproxy.ErrUnavailable):
		p = problem.New(problem.Unavailable, "The frontend could not reach the API. Try again in a moment.")
		w.Header().Set("Retry-After", "5")
		s.metrics.proxyErrors.Inc()
		s.log.WarnContext(r.Context(), "api unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
	default:
		p = problem.New(problem.Internal, "")
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p.CorrelationID = logging.CorrelationID(r.Context())
	h := w.Header()
	for k, v := range security {
		if _, ok := h[k]; !ok {
			h[k] = v
		}
	}
	problem.Write(w, r, p)
}
