package proxy

import (
	"net/http"
	"strconv"
)

// Problem is an error the lb answers itself, rendered as
// application/problem+json (RFC 9457) like every service of the stack.
type Problem struct {
	Status     int
	Slug       string // last part of the type URI
	Title      string
	Detail     string
	RetryAfter int // seconds; 0 omits Retry-After
}

// The lb's own answers.
var (
	errNotFound      = Problem{Status: http.StatusNotFound, Slug: "not-found", Title: "Not Found", Detail: "no such route"}
	errNoBackend     = Problem{Status: http.StatusServiceUnavailable, Slug: "unavailable", Title: "Service Unavailable", Detail: "no backend is available", RetryAfter: 1}
	errOverloaded    = Problem{Status: http.StatusServiceUnavailable, Slug: "unavailable", Title: "Service Unavailable", Detail: "the load balancer is at capacity", RetryAfter: 1}
	errBadGateway    = Problem{Status: http.StatusBadGateway, Slug: "bad-gateway", Title: "Bad Gateway", Detail: "the backend did not answer"}
	errTimeout       = Problem{Status: http.StatusGatewayTimeout, Slug: "gateway-timeout", Title: "Gateway Timeout", Detail: "the backend did not answer in time"}
	errBodyUnread    = Problem{Status: http.StatusBadRequest, Slug: "malformed-request", Title: "Bad Request", Detail: "the request body could not be read"}
	errBodyTooLarge  = Problem{Status: http.StatusRequestEntityTooLarge, Slug: "payload-too-large", Title: "Content Too Large", Detail: "the request body is too large"}
	errUpgradeFailed = Problem{Status: http.StatusBadGateway, Slug: "bad-gateway", Title: "Bad Gateway", Detail: "the protocol upgrade failed"}
)

// write renders p for r. Correlation id is the request's id.
func (p Problem) write(w http.ResponseWriter, r *http.Request, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	if r.Method == http.MethodHead {
		return
	}
	b := make([]byte, 0, 256)
	b = append(b, `{"type":"https://docker-examples.dev/problems/`...)
	b = append(b, p.Slug...)
	b = append(b, `","title":`...)
	b = appendJSONString(b, p.Title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(p.Status), 10)
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, p.Detail)
	b = append(b, `,"instance":`...)
	b = appendJSONString(b, r.URL.Path)
	b = append(b, `,"correlation_id":`...)
	b = appendJSONString(b, requestID)
	b = append(b, "}\n"...)
	_, _ = w.Write(b)
}
