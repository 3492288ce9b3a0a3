package proxy

import (
	"net/http"
	"strconv"

	"github.com/docker-examples/stack/platform/problem"
)

// Problem is an error the lb answers itself, written by the stack's one
// problem+json writer (platform/problem).
type Problem struct {
	problem.Kind
	Detail     string
	RetryAfter int // seconds; 0 omits Retry-After
}

// The lb's own answers. A backend that cannot be reached is 503, as an
// unreachable upstream is in every service of the stack; one that was
// reached and failed is 502.
var (
	errNotFound      = Problem{problem.NotFound, "no such route", 0}
	errNoBackend     = Problem{problem.Unavailable, "no backend is available", 1}
	errOverloaded    = Problem{problem.Unavailable, "the load balancer is at capacity", 1}
	errClientBusy    = Problem{rateLimited, "too many requests in flight from this client", 1}
	errUnreachable   = Problem{problem.Unavailable, "no backend could be reached", 1}
	errBadGateway    = Problem{problem.BadGateway, "the backend did not answer", 0}
	errTimeout       = Problem{problem.GatewayTimeout, "the backend did not answer in time", 0}
	errBodyUnread    = Problem{problem.BadRequest, "the request body could not be read", 0}
	errBodyTooLarge  = Problem{problem.PayloadTooLarge, "the request body is too large", 0}
	errBodySlow      = Problem{requestTimeout, "the request body did not arrive in time", 0}
	errUpgradeFailed = Problem{problem.BadGateway, "the protocol upgrade failed", 0}
	errGetOnly       = Problem{problem.MethodNotAllowed, "use GET", 0}
)

// requestTimeout is a client that did not send its request in time.
var requestTimeout = problem.Kind{Status: http.StatusRequestTimeout, Slug: "request-timeout", Title: "Request timeout"}

// backendAnswered is the problem for a 502, 503 or 504 every backend tried
// answered.
func backendAnswered(resp *http.Response) Problem {
	k := problem.BadGateway
	switch resp.StatusCode {
	case http.StatusServiceUnavailable:
		k = problem.Unavailable
	case http.StatusGatewayTimeout:
		k = problem.GatewayTimeout
	}
	return Problem{k, "every backend tried answered " + resp.Status, 0}
}

// write renders p for r. Correlation id is the request's id.
func (p Problem) write(w http.ResponseWriter, r *http.Request, requestID string) {
	if p.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	pb := problem.New(p.Kind, p.Detail)
	pb.CorrelationID = requestID
	problem.Write(w, r, pb)
}
