// Package problem is the stack's one writer of error responses:
// application/problem+json (RFC 9457) under one type base URI, with the
// conditions every service shares (not found, unavailable upstream, …)
// defined once, so the same condition has the same status, type and title
// in the lb, the frontend and the api.
package problem

import (
	"net/http"
	"strconv"

	"github.com/docker-examples/stack/platform/logging"
)

// TypeBase prefixes every problem type URI.
const TypeBase = "https://docker-examples.dev/problems/"

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// Kind is a condition: its status, the last part of its type URI, and its
// title, which is the same for every occurrence.
type Kind struct {
	Status int
	Slug   string
	Title  string
}

// The conditions more than one service answers. An upstream (a backend, the
// API) that cannot be reached is Unavailable everywhere; BadGateway is an
// upstream that was reached and answered wrongly or not at all.
var (
	BadRequest       = Kind{http.StatusBadRequest, "malformed-request", "Bad request"}
	NotFound         = Kind{http.StatusNotFound, "not-found", "Not found"}
	MethodNotAllowed = Kind{http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"}
	PayloadTooLarge  = Kind{http.StatusRequestEntityTooLarge, "payload-too-large", "Request body too large"}
	HeaderTooLarge   = Kind{http.StatusRequestHeaderFieldsTooLarge, "header-too-large", "Request header too large"}
	Internal         = Kind{http.StatusInternalServerError, "internal", "Internal server error"}
	BadGateway       = Kind{http.StatusBadGateway, "bad-gateway", "Bad gateway"}
	Unavailable      = Kind{http.StatusServiceUnavailable, "unavailable", "Service unavailable"}
	GatewayTimeout   = Kind{http.StatusGatewayTimeout, "gateway-timeout", "Gateway timeout"}
)

// Problem is the body of an error response.
type Problem struct {
	Type          string       `json:"type"`
	Title         string       `json:"title"`
	Status        int          `json:"status"`
	Detail        string       `json:"detail,omitempty"`
	Instance      string       `json:"instance,omitempty"`
	CorrelationID string       `json:"correlation_id,omitempty"`
	Errors        []FieldError `json:"errors,omitempty"`
}

// FieldError is what is wrong with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// New returns the problem of kind k with detail.
func New(k Kind, detail string) Problem {
	return Problem{Type: TypeBase + k.Slug, Title: k.Title, Status: k.Status, Detail: detail}
}

// AppendJSON appends p as one line of JSON, as encoding/json would write it,
// without allocating beyond dst.
func (p Problem) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = logging.AppendJSONString(dst, p.Type)
	dst = append(dst, `,"title":`...)
	dst = logging.AppendJSONString(dst, p.Title)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(p.Status), 10)
	for _, f := range [...]struct{ k, v string }{
		{`,"detail":`, p.Detail}, {`,"instance":`, p.Instance}, {`,"correlation_id":`, p.CorrelationID},
	} {
		if f.v != "" {
			dst = append(dst, f.k...)
			dst = logging.AppendJSONString(dst, f.v)
		}
	}
	if len(p.Errors) > 0 {
		dst = append(dst, `,"errors":[`...)
		for i, e := range p.Errors {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"field":`...)
			dst = logging.AppendJSONString(dst, e.Field)
			dst = append(dst, `,"message":`...)
			dst = logging.AppendJSONString(dst, e.Message)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, "}\n"...)
}

// Write answers r with p: the status, Content-Type application/problem+json,
// Cache-Control no-store and X-Content-Type-Options nosniff, and the body
// (none for HEAD). Headers set on w before stay, except those that described
// another body (Content-Length, Content-Encoding, ETag). Instance defaults to
// r's path.
func Write(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Instance == "" {
		p.Instance = r.URL.Path
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("Content-Encoding")
	h.Del("Etag")
	h["Content-Type"] = []string{ContentType}
	h["Cache-Control"] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(p.Status)
	if r.Method == http.MethodHead {
		return
	}
	var buf [512]byte
	_, _ = w.Write(p.AppendJSON(buf[:0]))
}
