package httpapi

import (
	"github.com/labstack/echo/v4"
)

// routes is the whole route table of the API. Middleware order, outermost
// first: correlation id, security headers, metrics/access log (which also
// renders errors, so it sees final status codes), panic recovery, CORS,
// body limit.
func (s *server) routes(e *echo.Echo) {
	e.Use(
		correlationID,
		securityHeaders(s.TrustedProxies),
		s.observe,
		recoverPanics,
		cors(s.CORSOrigins),
		limitBody(MaxBodyBytes),
	)

	// Operations: not under /api, never rate limited.
	e.GET("/health", s.health)
	e.GET("/ready", s.ready)
	e.GET("/metrics", echo.WrapHandler(s.Metrics.Handler()))
	e.GET("/openapi.json", s.openAPI)
	e.GET("/docs", s.docsIndex)
	e.GET("/docs/", s.docsIndex)
	e.GET("/docs/*", s.docsAsset)

	api := e.Group("/api")
	if s.RateLimit != nil {
		api.Use(s.RateLimit)
	}
	write := append([]echo.MiddlewareFunc{s.requireAuth}, s.WriteMiddleware...)

	api.GET("/status", s.status)

	api.GET("/inventory", s.listItems)
	api.POST("/inventory", s.createItem, write...)
	api.GET("/inventory/:id", s.getItem)
	api.PUT("/inventory/:id", s.replaceItem, write...)
	api.PATCH("/inventory/:id", s.patchItem, write...)
	api.DELETE("/inventory/:id", s.deleteItem, write...)
}
