package httpapi

import (
	"slices"

	"github.com/labstack/echo/v4"
)

// routes is the whole route table of the API. Middleware order, outermost
// first: correlation id, security headers, metrics/access log (which also
// renders errors, so it sees final status codes), panic recovery, CORS
// (which answers preflights itself: they never need credentials nor count
// against a limit), body limit, the request's deadline. Under /api: identify the caller, then rate
// limit (by principal, else client IP); writes then require the caller
// (401/403), then honour an Idempotency-Key.
// eventsPath is the event stream's route: long-lived, without the
// request deadline.
const eventsPath = "/api/events"

func (s *server) routes(e *echo.Echo) {
	e.Use(
		correlationID,
		s.securityHeaders,
		s.observe,
		recoverPanics,
		cors(s.CORSOrigins),
		limitBody(MaxBodyBytes),
		deadline(s.RequestTimeout),
	)

	// Operations: not under /api, never rate limited.
	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	e.GET("/metrics", echo.WrapHandler(s.Metrics.Handler()), s.metricsAuth)
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docsIndex)
	e.GET("/docs/", s.docsIndex)
	e.GET("/docs/*", s.docsAsset)

	// Route-level rather than group middleware: an echo group with
	// middleware answers 404 for a known path with the wrong method.
	public := []echo.MiddlewareFunc{s.identify}
	if s.RateLimit.Limiter != nil {
		public = append(public, limit(s.RateLimit.Limiter, s.requestBudget))
	}
	read := public
	if s.ReadsRequireAuth {
		read = append(slices.Clip(public), s.requireAuth)
	}
	write := append(slices.Clip(public), s.requireAuth)
	if s.Idempotency != nil {
		write = append(write, s.idempotent)
	}
	login := slices.Clip(public)
	if s.RateLimit.LoginLimiter != nil {
		login = append(login, limit(s.RateLimit.LoginLimiter, s.loginBudget))
	}

	e.GET("/api/status", s.status, public...)
	e.GET(eventsPath, s.streamEvents, read...)

	e.POST("/api/auth/login", s.login, login...)
	e.POST("/api/auth/logout", s.logout, public...)
	e.GET("/api/auth/session", s.session, public...)

	e.GET("/api/inventory", s.listItems, read...)
	e.POST("/api/inventory", s.createItem, write...)
	e.GET("/api/inventory/:id", s.getItem, read...)
	e.PUT("/api/inventory/:id", s.replaceItem, write...)
	e.PATCH("/api/inventory/:id", s.patchItem, write...)
	e.DELETE("/api/inventory/:id", s.deleteItem, write...)
	e.POST("/api/inventory/:id/refresh", s.refreshItem, write...)
	e.POST(importComposePath, s.importCompose, write...)
}
