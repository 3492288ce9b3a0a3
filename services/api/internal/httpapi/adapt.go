package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/statuswriter"
)

// Handler adapts a HandlerFunc to echo. The handler writes through echo's
// response, so the access log and metrics see its status and size.
func Handler(h HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		return h(c.Response(), c.Request())
	}
}

// Middleware adapts a net/http-style middleware (ratelimit.Middleware,
// idempotency.Wrap) to echo. The middleware may replace the request (its
// context, its body) and wrap the response writer, e.g. to record the body
// the handler writes: echo's response then writes through the wrapper for
// the rest of the chain. When the middleware answers by itself without
// calling next (an idempotent replay), echo's response is marked committed
// with the status it wrote, so the error handler stays away and the access
// log is right.
func Middleware(mw func(HandlerFunc) HandlerFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			res := c.Response()
			orig := res.Writer
			defer func() { res.Writer = orig }()
			// The middleware gets the writer under echo's response, never
			// the response itself: a wrapper around res installed as
			// res.Writer would write to itself.
			w := statuswriter.New(orig)
			called := false
			h := mw(func(hw http.ResponseWriter, r *http.Request) error {
				called = true
				c.SetRequest(r)
				res.Writer = hw
				return next(c)
			})
			err := h(w, c.Request())
			if !called && w.Status != 0 && !res.Committed {
				res.Status, res.Size, res.Committed = w.Status, w.Size, true
			}
			return err
		}
	}
}
