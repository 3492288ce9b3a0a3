package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/problem"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/session"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// ProblemTypeBase prefixes every problem type URI (the stack's one base).
const ProblemTypeBase = problem.TypeBase

// Problem is an RFC 9457 problem detail, the body of every error response.
type Problem = problem.Problem

// problemError is an error that already knows its problem. Handlers and
// middleware of this package return them; other packages' errors are
// mapped in toProblem.
type problemError struct {
	slug   string
	status int
	detail string
	fields []inventory.FieldError
	header http.Header
}

func (e *problemError) Error() string { return e.slug + ": " + e.detail }

func newProblem(status int, slug, format string, args ...any) *problemError {
	return &problemError{slug: slug, status: status, detail: fmt.Sprintf(format, args...)}
}

// fieldProblem is a validation error on one field.
func fieldProblem(field, format string, args ...any) *problemError {
	p := newProblem(http.StatusUnprocessableEntity, "validation", "the request is not valid")
	p.fields = []inventory.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}
	return p
}

var titles = map[string]string{
	"validation":             "Your request is not valid",
	"malformed-json":         "The body is not valid JSON",
	"not-found":              problem.NotFound.Title,
	"conflict":               "Conflict",
	"precondition-failed":    "Precondition failed",
	"unauthorized":           "Authentication required",
	"forbidden":              "Forbidden",
	"rate-limited":           "Too many requests",
	"payload-too-large":      problem.PayloadTooLarge.Title,
	"unsupported-media-type": "Unsupported media type",
	"method-not-allowed":     problem.MethodNotAllowed.Title,
	"internal":               problem.Internal.Title,
	"unavailable":            problem.Unavailable.Title,
	"timeout":                "The database did not answer in time",
	"idempotency-quota":      "Too many stored idempotent responses",
	"invalid-compose":        "The compose file is not valid",
	"idempotency-mismatch":   "Idempotency key reused with a different request",
	"bad-cursor":             "The cursor is not one this API returned",
}

// errPreconditionFailed is returned when If-Match does not match.
var errPreconditionFailed = newProblem(http.StatusPreconditionFailed, "precondition-failed",
	"the item has changed since you read it (If-Match does not match its ETag): read it again and retry")

// toProblem maps any error to the problem a client sees.
func toProblem(err error) *problemError {
	var (
		pe    *problemError
		verr  *inventory.ValidationError
		he    *echo.HTTPError
		maxBE *http.MaxBytesError
	)
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &verr):
		p := newProblem(http.StatusUnprocessableEntity, "validation", "the request is not valid: see errors")
		p.fields = verr.Errors
		return p
	case errors.Is(err, inventory.ErrBadCursor):
		p := newProblem(http.StatusBadRequest, "bad-cursor",
			"cursor is not a next_cursor this API returned for this list (same filters): start again without it")
		p.fields = []inventory.FieldError{{Field: "cursor", Message: "is not a cursor this API returned for this list"}}
		return p
	case errors.Is(err, errTooLarge), errors.As(err, &maxBE):
		return newProblem(http.StatusRequestEntityTooLarge, "payload-too-large",
			"the request body is larger than %d bytes", MaxBodyBytes)
	case errors.Is(err, store.ErrNotFound):
		return newProblem(http.StatusNotFound, "not-found", "no item has this id")
	case errors.Is(err, store.ErrConflict):
		return newProblem(http.StatusConflict, "conflict", "an item with this name already exists")
	case errors.Is(err, errRequestTimeout):
		p := newProblem(http.StatusServiceUnavailable, "timeout", "the request did not finish within the api's REQUEST_TIMEOUT: retry later")
		p.header = http.Header{"Retry-After": {"5"}}
		return p
	case errors.Is(err, store.ErrTimeout):
		p := newProblem(http.StatusServiceUnavailable, "timeout", "the database did not answer within its statement timeout: retry later")
		p.header = http.Header{"Retry-After": {"5"}}
		return p
	case errors.Is(err, store.ErrSchema):
		p := newProblem(http.StatusServiceUnavailable, "unavailable", "the database's schema is older than this api (migrate up has not run): retry later")
		p.header = http.Header{"Retry-After": {"5"}}
		return p
	case errors.Is(err, store.ErrUnavailable):
		p := newProblem(http.StatusServiceUnavailable, "unavailable", "the database is unavailable: retry later")
		p.header = http.Header{"Retry-After": {"5"}}
		return p
	case errors.Is(err, ratelimit.ErrLimited): // Retry-After is already set
		return newProblem(http.StatusTooManyRequests, "rate-limited", "too many requests: retry after the time in Retry-After")
	case errors.Is(err, ratelimit.ErrUnavailable), errors.Is(err, idempotency.ErrUnavailable), errors.Is(err, session.ErrUnavailable):
		p := newProblem(http.StatusServiceUnavailable, "unavailable", "a shared store (Redis) is unavailable: retry later")
		p.header = http.Header{"Retry-After": {"5"}}
		return p
	case errors.Is(err, idempotency.ErrQuota): // Retry-After is already set
		return newProblem(http.StatusTooManyRequests, "idempotency-quota",
			"you keep too many stored Idempotency-Key responses: the request did not run; retry after the time in Retry-After, or send it without Idempotency-Key")
	case errors.Is(err, idempotency.ErrMismatch):
		return newProblem(http.StatusUnprocessableEntity, "idempotency-mismatch",
			"this Idempotency-Key was used with a different request: use a new key for a new request")
	case errors.Is(err, idempotency.ErrInProgress): // Retry-After is already set
		return newProblem(http.StatusConflict, "conflict", "a request with this Idempotency-Key is still in progress")
	case errors.Is(err, idempotency.ErrInvalidKey):
		p := newProblem(http.StatusBadRequest, "validation", "the Idempotency-Key header is not valid")
		p.fields = []inventory.FieldError{{Field: idempotency.Header, Message: err.Error()}}
		return p
	case errors.Is(err, session.ErrBadCredentials):
		return newProblem(http.StatusUnauthorized, "unauthorized", "wrong username or password")
	case errors.Is(err, session.ErrCSRF), errors.Is(err, auth.ErrForbidden):
		return newProblem(http.StatusForbidden, "forbidden",
			"a write with a session cookie needs the session's X-CSRF-Token header (from login or GET /api/auth/session)")
	case errors.Is(err, auth.ErrNoCredentials), errors.Is(err, auth.ErrInvalidCredentials):
		p := newProblem(http.StatusUnauthorized, "unauthorized",
			"writes need a valid X-API-Key header or a live session: sign in again")
		p.header = http.Header{"WWW-Authenticate": {`ApiKey realm="api", header="X-API-Key"`}}
		return p
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			return newProblem(http.StatusNotFound, "not-found", "no such route")
		case http.StatusMethodNotAllowed:
			return newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "this route does not support the method")
		case http.StatusRequestEntityTooLarge:
			return newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", "the request body is too large")
		case http.StatusTooManyRequests:
			return newProblem(http.StatusTooManyRequests, "rate-limited", "slow down")
		case http.StatusUnsupportedMediaType:
			return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "%v", he.Message)
		}
		if he.Code >= 400 && he.Code < 500 {
			return newProblem(he.Code, "validation", "%v", he.Message)
		}
	}
	return newProblem(http.StatusInternalServerError, "internal", "something went wrong on our side")
}

// handleError is echo's error handler: every error becomes
// application/problem+json. Server errors are logged here, once; client
// errors are only counted (by the access log).
func (s *server) handleError(err error, c echo.Context) {
	ctx := c.Request().Context()
	p := toProblem(err)
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The client went away; nobody is reading the answer.
		p = newProblem(499, "unavailable", "client closed the request")
		s.log.DebugContext(ctx, "client closed the request", "err", err)
	case p.status >= 500:
		s.log.LogAttrs(ctx, slog.LevelError, "request failed",
			slog.String("err", err.Error()), slog.Int("status", p.status))
	}
	if c.Response().Committed {
		return
	}
	for k, vs := range p.header {
		for _, v := range vs {
			c.Response().Header().Add(k, v)
		}
	}
	fields := make([]problem.FieldError, len(p.fields))
	for i, f := range p.fields {
		fields[i] = problem.FieldError{Field: f.Field, Message: f.Message}
	}
	problem.Write(c.Response(), c.Request(), Problem{
		Type:          ProblemTypeBase + p.slug,
		Title:         titles[p.slug],
		Status:        p.status,
		Detail:        p.detail,
		CorrelationID: logging.CorrelationID(ctx),
		Errors:        fields,
	})
}
