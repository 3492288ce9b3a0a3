package site

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

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

// withCorrelationID takes the request's X-Correlation-ID when it is a sane
// token, or makes one, puts it in the context (every log line and the
// forwarded API request carry it) and on the response.
func withCorrelationID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Correlation-ID")
		if !validID(id) {
			id = newID()
		}
		w.Header()["X-Correlation-Id"] = []string{id}
		next.ServeHTTP(w, r.WithContext(logging.WithCorrelationID(r.Context(), id)))
	})
}

func validID[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newID() string {
	var b [32]byte
	return string(appendNewID(b[:0]))
}

// appendNewID appends a new random correlation id, 32 hex digits, to dst.
func appendNewID(dst []byte) []byte {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.AppendEncode(dst, b[:])
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
