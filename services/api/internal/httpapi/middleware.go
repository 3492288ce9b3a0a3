package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/composeimport"
)

// CorrelationHeader carries a request's correlation id in and out.
const CorrelationHeader = correlation.Header

// correlationKey is CorrelationHeader in net/http's canonical form
// ("X-Correlation-Id"): assigned directly, without Header.Set's
// canonicalising copy of the name per request.
var correlationKey = http.CanonicalHeaderKey(CorrelationHeader)

// requestContext gives the request its context, in one copy of the
// request: the correlation id, taken by the stack's one rule
// (platform/correlation) or made, also set on the response, so every log
// line carries it; and, when d > 0, for every request but the event stream
// (long by design), a deadline d away, so a slow query or a frozen peer
// cannot hold a request, its connection and its pool slot for ever. The
// deadline's error is named in observe, which renders errors.
func requestContext(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			id := correlation.From(r.Header)
			c.Response().Header()[correlationKey] = []string{id}
			ctx := logging.WithCorrelationID(r.Context(), id)
			if d > 0 && c.Path() != eventsPath {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeoutCause(ctx, d, errRequestTimeout)
				defer cancel()
			}
			c.SetRequest(r.WithContext(ctx))
			return next(c)
		}
	}
}

// apiCSP is the Content-Security-Policy of every response but the docs:
// the API serves no active content at all.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// securityHeaderValues are the headers of every response, canonical keys.
var securityHeaderValues = []struct {
	name  string
	value []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Permissions-Policy", []string{"camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Cross-Origin-Resource-Policy", []string{"same-site"}},
	{"Content-Security-Policy", []string{apiCSP}},
}

// securityHeaders sets the security headers before the handler runs, so
// that errors carry them too. HSTS is sent only when the request came over
// https, directly or as told by a trusted proxy.
func (s *server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		// Assigned, not Set: the keys are canonical already and the
		// values shared (net/http only reads them; Add copies).
		for _, kv := range securityHeaderValues {
			h[kv.name] = kv.value
		}
		if s.proxies.IsHTTPS(c.Request()) {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// observe renders the handler's error (so it sees the final status),
// records metrics by route template and writes one access log line.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Whatever the store or Redis made of the request's deadline
			// (requestContext), the answer is 503 timeout.
			if errors.Is(context.Cause(c.Request().Context()), errRequestTimeout) {
				err = fmt.Errorf("%w: %w", errRequestTimeout, err)
			}
			c.Error(err)
		}
		d := time.Since(start)
		r, res := c.Request(), c.Response()
		route := c.Path()
		if route == "" || errors.Is(err, echo.ErrNotFound) {
			route = "unmatched" // keeps label cardinality bounded
		}
		s.Metrics.ObserveRequest(route, r.Method, res.Status, d)
		telemetry.SetRoute(r.Context(), r.Method, route)
		logging.LogAttrs(r.Context(), s.log, slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.String("path", logging.Clip(r.URL.Path, logging.MaxLoggedValue)),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Float64("duration_ms", float64(d.Microseconds())/1000),
			slog.String("client_ip", c.RealIP()),
		)
		return nil
	}
}

// recoverPanics turns a handler's panic into a 500, logged once with its
// stack by the error handler.
func recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			}
		}()
		return next(c)
	}
}

var (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders = "Content-Type, If-Match, If-None-Match, Idempotency-Key, Last-Event-ID, " +
		"X-API-Key, X-CSRF-Token, " + CorrelationHeader
	corsExposeHeaders = "ETag, Location, Retry-After, Idempotent-Replayed, " +
		"RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, " + CorrelationHeader
)

// cors answers browsers from the listed origins, with credentials; other
// origins get no CORS headers, so browsers keep their responses from the
// calling page. An empty list disables CORS.
func cors(origins []string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if len(origins) == 0 {
			return next
		}
		return func(c echo.Context) error {
			r, h := c.Request(), c.Response().Header()
			origin := r.Header.Get("Origin")
			if origin == "" {
				return next(c)
			}
			h.Add("Vary", "Origin")
			allowed := slices.Contains(origins, strings.ToLower(origin))
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			if !allowed {
				if preflight {
					return c.NoContent(http.StatusNoContent)
				}
				return next(c)
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			if preflight {
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				h.Set("Access-Control-Max-Age", "600")
				return c.NoContent(http.StatusNoContent)
			}
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			return next(c)
		}
	}
}

// limitBody refuses bodies larger than n bytes: at once when
// Content-Length says so, else when the handler reads past n.
func limitBody(n int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			n := n
			if r.URL.Path == importComposePath {
				n = composeimport.MaxBytes // a compose file may be larger than an item
			}
			if r.ContentLength > n {
				return errTooLarge
			}
			if r.Body != http.NoBody { // what net/http gives a request without a body: nothing to bound
				r.Body = http.MaxBytesReader(c.Response(), r.Body, n)
			}
			return next(c)
		}
	}
}

// authResult is what identify learnt about a request.
type authResult struct {
	p   auth.Principal
	err error
}

type authResultKey struct{}

// identify asks the Authenticator once who makes an /api request and
// keeps the answer in the request context: the principal (auth.FromContext)
// when there is one, for the rate limiter and the handlers, and the error
// for requireAuth; a request with no credentials at all keeps its context.
// A request without valid credentials goes on: reads are public, and
// requireAuth refuses writes.
func (s *server) identify(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		p, err := s.Auth.Authenticate(r)
		if errors.Is(err, auth.ErrNoCredentials) {
			// An anonymous request, the common read: its context stays as
			// it is, without a copy of the request. requireAuth, finding no
			// answer there, asks again and gets the same one.
			return next(c)
		}
		ctx := context.WithValue(r.Context(), authResultKey{}, authResult{p: p, err: err})
		if err == nil {
			ctx = auth.WithPrincipal(ctx, p)
		}
		c.SetRequest(r.WithContext(ctx))
		return next(c)
	}
}

// requireAuth lets a request through only when identify named its caller:
// no or wrong credentials are 401, a session write without its CSRF token
// 403, an authenticator that could not decide (its store down) 503.
func (s *server) requireAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res, ok := c.Request().Context().Value(authResultKey{}).(authResult)
		if !ok { // a route outside the /api group, or an anonymous request
			res.p, res.err = s.Auth.Authenticate(c.Request())
			if res.err == nil {
				r := c.Request()
				c.SetRequest(r.WithContext(auth.WithPrincipal(r.Context(), res.p)))
			}
		}
		if res.err != nil {
			return res.err
		}
		return next(c)
	}
}

// clientIP is echo's IP extractor (c.RealIP()): package forwarded's
// answer, which believes X-Forwarded-For only from trusted proxies.
func (s *server) clientIP(r *http.Request) string {
	if a := s.proxies.ClientIP(r); a.IsValid() {
		return a.String()
	}
	return ""
}

var errTooLarge = errors.New("request body too large")

// errRequestTimeout is the cause of a request's context ending at its
// deadline: whatever the store or Redis made of it, the answer is 503
// timeout.
var errRequestTimeout = errors.New("the request did not finish within its deadline")
