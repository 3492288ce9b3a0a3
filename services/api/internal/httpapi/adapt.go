package httpapi

import (
	"github.com/labstack/echo/v4"
)

// Handler adapts a HandlerFunc to echo. The handler writes through echo's
// response, so the access log and metrics see its status and size.
func Handler(h HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		return h(c.Response(), c.Request())
	}
}
