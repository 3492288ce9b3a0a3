package httpapi

import (
	"slices"

	"github.com/labstack/echo/v4"
)

// routes is the whole route table of the API. Middleware order, outermost
// first: the request's context (correlation id, deadline), security
// headers, metrics/access log (which also renders errors, so it sees final
// status codes), panic recovery, CORS (which answers preflights itself:
// they never need credentials nor count against a limit), body limit.
// Under /api: identify the caller, then rate limit (by principal, else
// client IP); writes then require the caller (401/403), then honour an
// Idempotency-Key.
// eventsPath is the event stream's route: long-lived, without the
// request deadline.
const eventsPath = "/api/events"

func (s *server) routes(e *echo.Echo) {
	// Every request, routed or not (404, 405, echo's automatic OPTIONS),
	// runs through this one chain, composed here once. echo applies e.Use's
	// middleware to the handler the router found, anew on each request (a
	// closure per middleware per request); this middleware ignores that
	// handler and returns the chain, whose innermost step calls the same
	// one: c.Handler(), which is what echo passes as next.
	global := chain(func(c echo.Context) error { return c.Handler()(c) },
		requestContext(s.RequestTimeout),
		s.securityHeaders,
		s.observe,
		recoverPanics,
		cors(s.CORSOrigins),
		limitBody(MaxBodyBytes),
	)
	e.Use(func(echo.HandlerFunc) echo.HandlerFunc { return global })

	// Operations: not under /api, never rate limited.
	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	e.GET("/metrics", chain(echo.WrapHandler(s.Metrics.Handler()), s.metricsAuth))
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docsIndex)
	e.GET("/docs/", s.docsIndex)
	e.GET("/docs/*", s.docsAsset)

	// Route-level rather than group middleware: an echo group with
	// middleware answers 404 for a known path with the wrong method. Each
	// route's handler is registered with its middleware composed once
	// (chain): given to echo, it would compose them on every request.
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

	e.GET("/api/status", chain(s.status, public...))
	e.GET(eventsPath, chain(s.streamEvents, read...))

	e.POST("/api/auth/login", chain(s.login, login...))
	e.POST("/api/auth/logout", chain(s.logout, public...))
	e.GET("/api/auth/session", chain(s.session, public...))

	e.GET("/api/inventory", chain(s.listItems, read...))
	e.POST("/api/inventory", chain(s.createItem, write...))
	e.GET("/api/inventory/:id", chain(s.getItem, read...))
	e.PUT("/api/inventory/:id", chain(s.replaceItem, write...))
	e.PATCH("/api/inventory/:id", chain(s.patchItem, write...))
	e.DELETE("/api/inventory/:id", chain(s.deleteItem, write...))
	e.POST("/api/inventory/:id/refresh", chain(s.refreshItem, write...))
	e.POST(importComposePath, chain(s.importCompose, write...))
}

// chain is h behind mws, the first outermost, composed once.
func chain(h echo.HandlerFunc, mws ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
