package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/statuswriter"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
)

// Idempotency keeps the responses of requests made with an
// Idempotency-Key (*idempotency.Store, shared by every replica).
type Idempotency interface {
	// Begin claims key in scope for the request with fingerprint fp: a
	// lease to run it, a response to replay, an error, or none of them
	// (Redis failing open: run without the guarantee).
	Begin(ctx context.Context, scope, key, fp string) (*idempotency.Lease, *idempotency.Response, error)
}

// maxStored is the largest response body kept for a replay (64 KiB: an
// item is a few KiB). A larger response is sent but not kept, and its key
// is released, so a retry runs again: only a compose import answers with
// that much, and running an import again writes the same items.
const maxStored = 64 << 10

// idempotent runs a POST with an Idempotency-Key at most once per key and
// caller (the principal's subject, so one caller's key never replays
// another's response): a retry with the same request gets the first
// response again, marked Idempotent-Replayed: true, on any replica. Only a
// completed response (an answer below 500) is kept. Other requests pass
// through untouched.
func (s *server) idempotent(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		vals := r.Header.Values(idempotency.Header)
		if r.Method != http.MethodPost || len(vals) == 0 {
			return next(c)
		}
		if len(vals) > 1 {
			return fmt.Errorf("%w: the header is repeated", idempotency.ErrInvalidKey)
		}
		key, err := idempotency.ParseKey(vals[0])
		if err != nil {
			return err
		}
		body, err := io.ReadAll(r.Body) // bounded by limitBody: a *http.MaxBytesError
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p, _ := auth.FromContext(r.Context())
		fp := idempotency.Fingerprint(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body)
		lease, replay, err := s.Idempotency.Begin(r.Context(), p.Subject, key, fp)
		var quota *idempotency.QuotaError
		switch {
		case errors.Is(err, idempotency.ErrInProgress):
			c.Response().Header().Set("Retry-After", "1")
			return err
		case errors.As(err, &quota):
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(quota.RetryAfter/time.Second)))
			return err
		case err != nil:
			return err
		case replay != nil:
			return replayResponse(c.Response(), *replay)
		case lease == nil: // Redis failing open
			return next(c)
		}
		return runLeased(c, next, lease)
	}
}

// runLeased runs next while recording its response, then stores the
// response or, when next failed, answered 5xx, panicked or wrote more than
// maxStored, releases the key.
func runLeased(c echo.Context, next echo.HandlerFunc, lease *idempotency.Lease) error {
	ctx := c.Request().Context()
	res := c.Response()
	orig := res.Writer
	rec := newRecorder(orig, maxStored)
	res.Writer = rec
	done := false
	defer func() {
		res.Writer = orig // the error handler writes past the recorder
		if !done {        // a panic: free the key, then let the panic go on
			lease.Release(ctx)
		}
	}()
	err := next(c)
	done = true
	if err != nil || rec.Status == 0 || rec.Status >= 500 || rec.overflow {
		lease.Release(ctx)
		return err
	}
	lease.Complete(ctx, idempotency.Response{Status: rec.Status, Header: rec.header(), Body: rec.body.Bytes()})
	return nil
}

// replayResponse answers with a stored response.
func replayResponse(res *echo.Response, stored idempotency.Response) error {
	h := res.Header()
	for k, vs := range stored.Header {
		h[k] = vs
	}
	h.Set(idempotency.ReplayedHeader, "true")
	res.WriteHeader(stored.Status)
	_, err := res.Write(stored.Body)
	return err
}

// notStored are headers that describe one delivery, not the response.
var notStored = []string{"Date", "Set-Cookie", "X-Correlation-Id", "Retry-After",
	"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit-Policy"}

// recorder passes the response through (the stack's status-recording
// writer) and keeps a copy of what the handler set: the headers it added or
// changed, its body.
type recorder struct {
	statuswriter.Writer
	before   http.Header
	after    http.Header
	body     bytes.Buffer
	max      int
	overflow bool
}

func newRecorder(w http.ResponseWriter, max int) *recorder {
	return &recorder{Writer: statuswriter.Writer{ResponseWriter: w}, before: w.Header().Clone(), max: max}
}

func (rec *recorder) WriteHeader(code int) {
	if rec.Status == 0 && code >= 200 {
		rec.after = rec.Header().Clone()
	}
	rec.Writer.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.Status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if !rec.overflow {
		if rec.body.Len()+len(b) > rec.max {
			rec.overflow = true
			rec.body = bytes.Buffer{}
		} else {
			rec.body.Write(b)
		}
	}
	return rec.Writer.Write(b)
}

// header returns the headers the handler added or changed.
func (rec *recorder) header() http.Header {
	out := http.Header{}
	for k, vs := range rec.after {
		if slices.Contains(notStored, k) || slices.Equal(rec.before[k], vs) {
			continue
		}
		out[k] = vs
	}
	return out
}
