package site

import (
	"fmt"
	"net/http"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/logging"
)

// ContentSecurityPolicy allows scripts, styles, images, fonts and
// connections from the page's own origin only: no inline script or style,
// no eval, no plug-ins, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// securityHeader returns the headers every response of the frontend
// carries. Values are single-element slices assigned as they are.
func securityHeader() http.Header {
	return http.Header{
		"Content-Security-Policy":      {ContentSecurityPolicy},
		"X-Content-Type-Options":       {"nosniff"},
		"X-Frame-Options":              {"DENY"},
		"Referrer-Policy":              {"no-referrer"},
		"Cross-Origin-Opener-Policy":   {"same-origin"},
		"Cross-Origin-Resource-Policy": {"same-origin"},
		"Permissions-Policy":           {"camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
	}
}

var security = securityHeader()

func withSecurityHeaders(on bool, next http.Handler) http.Handler {
	if !on {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range security {
			h[k] = v
		}
		next.ServeHTTP(w, r)
	})
}

// withCorrelationID takes the request's correlation id by the stack's one
// rule (platform/correlation), or makes one, puts it in the context (every
// log line and the forwarded API request carry it) and on the response.
func withCorrelationID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := correlation.From(r.Header)
		w.Header()["X-Correlation-Id"] = []string{id}
		next.ServeHTTP(w, r.WithContext(logging.WithCorrelationID(r.Context(), id)))
	})
}

// recoverer turns a panic into a logged 500 problem. http.ErrAbortHandler,
// the reverse proxy's way to abort a broken stream, passes through.
func (s *Site) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
