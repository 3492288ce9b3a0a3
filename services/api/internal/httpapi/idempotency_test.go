package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
)

// idemAPI plays one replica: the correlation id, panic recovery and body
// limit, the caller named by X-Principal, the idempotency middleware, a
// create handler counting its runs, and the API's error handler.
type idemAPI struct {
	creates atomic.Int64
	h       http.Handler
	// block, when set, holds the create handler until closed.
	block chan struct{}
	// entered is signalled when the create handler starts.
	entered chan struct{}
}

const idemMaxBody = 64

func newIdemAPI(t *testing.T, r *faultredis.Redis, opts idempotency.Options) *idemAPI {
	t.Helper()
	a := &idemAPI{entered: make(chan struct{}, 10)}
	s := &server{Deps: Deps{Idempotency: idempotency.New(r.Client(t), opts)}, log: slog.New(slog.DiscardHandler)}
	create := func(c echo.Context) error {
		a.entered <- struct{}{}
		if a.block != nil {
			<-a.block
		}
		switch c.QueryParam("fail") {
		case "error":
			return errors.New("handler error")
		case "500":
			return c.NoContent(http.StatusInternalServerError)
		case "panic":
			panic("handler panic")
		}
		n := a.creates.Add(1)
		c.Response().Header().Set("Location", fmt.Sprintf("/api/inventory/%d", n))
		return c.JSONBlob(http.StatusCreated, fmt.Appendf(nil, `{"id":"%d"}`, n))
	}
	principal := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			c.SetRequest(r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{Subject: r.Header.Get("X-Principal")})))
			return next(c)
		}
	}
	e := echo.New()
	e.HTTPErrorHandler = s.handleError
	e.Use(requestContext(0), recoverPanics, limitBody(idemMaxBody))
	e.POST("/api/*", create, principal, s.idempotent)
	a.h = e
	return a
}

type idemReq struct {
	path, key, body, principal, correlation string
}

func (a *idemAPI) do(q idemReq) *httptest.ResponseRecorder {
	if q.path == "" {
		q.path = "/api/inventory"
	}
	r := httptest.NewRequest(http.MethodPost, q.path, strings.NewReader(q.body))
	r.ContentLength = -1 // the body limit finds out while reading
	if q.key != "" {
		r.Header.Set(idempotency.Header, q.key)
	}
	r.Header.Set("X-Principal", q.principal)
	if q.correlation != "" {
		r.Header.Set(CorrelationHeader, q.correlation)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	return rec
}

type summary struct {
	Status   int
	Location string
	Body     string
}

func summarise(rec *httptest.ResponseRecorder) summary {
	return summary{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
}

func TestIdempotentReplayOnAnyReplica(t *testing.T) {
	r := faultredis.New(t)
	a1, a2 := newIdemAPI(t, r, idempotency.Options{}), newIdemAPI(t, r, idempotency.Options{})
	q := idemReq{key: "k-1", body: `{"name":"postgres"}`, correlation: "first-request"}

	first := a1.do(q)
	q.correlation = "the-retry"
	again := a2.do(q)

	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if diff := cmp.Diff(summarise(first), summarise(again)); diff != "" {
		t.Errorf("replay on replica 2 differs (-first +replay):\n%s", diff)
	}
	if got := again.Header().Get(idempotency.ReplayedHeader); got != "true" {
		t.Errorf("%s = %q, want true", idempotency.ReplayedHeader, got)
	}
	if got := again.Header().Get(CorrelationHeader); got != "the-retry" {
		t.Errorf("replay's %s = %q, want the retry's own", CorrelationHeader, got)
	}
	if n := a1.creates.Load() + a2.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
	// Without a key, or another key, the request runs.
	a1.do(idemReq{body: q.body})
	a1.do(idemReq{key: "k-2", body: q.body})
	if n := a1.creates.Load() + a2.creates.Load(); n != 3 {
		t.Errorf("handler ran %d times after two unkeyed/new-key posts, want 3", n)
	}
}

func TestIdempotencyKeyWithAnotherRequest(t *testing.T) {
	r := faultredis.New(t)
	a := newIdemAPI(t, r, idempotency.Options{})
	a.do(idemReq{key: "k", body: `{"name":"a"}`})
	for _, q := range []idemReq{
		{key: "k", body: `{"name":"b"}`},
		{key: "k", body: `{"name":"a"}`, path: "/api/import/compose"},
		{key: "k", body: `{"name":"a"}`, path: "/api/inventory?x=1"},
	} {
		if rec := a.do(q); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "idempotency-mismatch") {
			t.Errorf("%+v: %d %s, want 422 idempotency-mismatch", q, rec.Code, rec.Body)
		}
	}
	if n := a.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestIdempotencyKeysAreScopedByCaller(t *testing.T) {
	r := faultredis.New(t)
	a := newIdemAPI(t, r, idempotency.Options{})
	alice := a.do(idemReq{key: "k", body: "{}", principal: "alice"})
	bob := a.do(idemReq{key: "k", body: "{}", principal: "bob"})
	if bob.Header().Get(idempotency.ReplayedHeader) != "" || bob.Body.String() == alice.Body.String() {
		t.Errorf("bob got alice's response %q for the same key", bob.Body)
	}
}

func TestIdempotentConcurrentRequestsOneRuns(t *testing.T) {
	r := faultredis.New(t)
	a1, a2 := newIdemAPI(t, r, idempotency.Options{}), newIdemAPI(t, r, idempotency.Options{})
	a1.block = make(chan struct{})
	q := idemReq{key: "k", body: "{}"}

	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- a1.do(q) }()
	<-a1.entered // the first request is running on replica 1

	second := a2.do(q)
	if second.Code != http.StatusConflict || second.Header().Get("Retry-After") == "" {
		t.Errorf("concurrent request: %d, Retry-After %q; want 409 with Retry-After", second.Code, second.Header().Get("Retry-After"))
	}
	close(a1.block)
	first := <-done

	third := a2.do(q)
	if diff := cmp.Diff(summarise(first), summarise(third)); diff != "" {
		t.Errorf("retry after completion differs (-first +retry):\n%s", diff)
	}
	if n := a1.creates.Load() + a2.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestIdempotencyKeepsNoFailure(t *testing.T) {
	for _, fail := range []string{"error", "500", "panic"} {
		t.Run(fail, func(t *testing.T) {
			r := faultredis.New(t)
			a := newIdemAPI(t, r, idempotency.Options{})
			if rec := a.do(idemReq{key: "k", path: "/api/inventory?fail=" + fail}); rec.Code != http.StatusInternalServerError {
				t.Fatalf("failing request: %d", rec.Code)
			}
			// The retry runs again (and fails again): the key was released.
			rec := a.do(idemReq{key: "k", path: "/api/inventory?fail=" + fail})
			if rec.Code != http.StatusInternalServerError || rec.Header().Get(idempotency.ReplayedHeader) != "" {
				t.Errorf("retry after a failure: %d, replayed %q; want it to run again", rec.Code, rec.Header().Get(idempotency.ReplayedHeader))
			}
			if len(a.entered) != 2 {
				t.Errorf("handler entered %d times, want 2", len(a.entered))
			}
		})
	}
}

func TestIdempotencyWithRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failOpen bool
		want     int
	}{
		{"fails closed by default", false, http.StatusServiceUnavailable},
		{"fails open when configured", true, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			a := newIdemAPI(t, r, idempotency.Options{FailOpen: tc.failOpen})
			r.Stop()
			if rec := a.do(idemReq{key: "k", body: "{}"}); rec.Code != tc.want {
				t.Errorf("keyed POST with Redis down: %d, want %d", rec.Code, tc.want)
			}
			if rec := a.do(idemReq{body: "{}"}); rec.Code != http.StatusCreated {
				t.Errorf("POST without a key with Redis down: %d, want 201", rec.Code)
			}
		})
	}
}

func TestIdempotencyBadKeysAndBodies(t *testing.T) {
	r := faultredis.New(t)
	a := newIdemAPI(t, r, idempotency.Options{})
	if rec := a.do(idemReq{key: `"unterminated`, body: "{}"}); rec.Code != http.StatusBadRequest {
		t.Errorf("malformed key: %d, want 400", rec.Code)
	}
	if rec := a.do(idemReq{key: "k", body: strings.Repeat("x", idemMaxBody+1)}); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d, want 413", rec.Code)
	}
	r2 := httptest.NewRequest(http.MethodPost, "/api/inventory", strings.NewReader("{}"))
	r2.Header.Add(idempotency.Header, "a")
	r2.Header.Add(idempotency.Header, "b")
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r2)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("repeated header: %d, want 400", rec.Code)
	}
	if a.creates.Load() != 0 {
		t.Errorf("handler ran %d times for refused requests, want 0", a.creates.Load())
	}
}

// TestIdempotencyQuota: a caller that keeps as many stored responses as
// its quota allows gets a 429 idempotency-quota with Retry-After for a new
// key, and the request does not run; its stored keys still replay, and
// other callers and requests without a key are not affected.
func TestIdempotencyQuota(t *testing.T) {
	r := faultredis.New(t)
	a := newIdemAPI(t, r, idempotency.Options{MaxRecords: 2})
	for _, k := range []string{"k-1", "k-2"} {
		if rec := a.do(idemReq{key: k, body: `{}`, principal: "alice"}); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", k, rec.Code, rec.Body)
		}
	}
	over := a.do(idemReq{key: "k-3", body: `{}`, principal: "alice"})
	if over.Code != http.StatusTooManyRequests || !strings.Contains(over.Body.String(), "/problems/idempotency-quota") ||
		!strings.HasPrefix(over.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("a new key over the quota = %d %s %s, want a 429 idempotency-quota problem", over.Code, over.Header(), over.Body)
	}
	if ra := over.Header().Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q, want the seconds until a stored response expires", ra)
	}
	if n := a.creates.Load(); n != 2 {
		t.Errorf("handler ran %d times, want 2: the refused request must not run", n)
	}
	if rec := a.do(idemReq{key: "k-1", body: `{}`, principal: "alice"}); rec.Code != http.StatusCreated ||
		rec.Header().Get(idempotency.ReplayedHeader) != "true" {
		t.Errorf("replay of a stored key = %d %v, want the stored 201", rec.Code, rec.Header())
	}
	if rec := a.do(idemReq{key: "k-3", body: `{}`, principal: "bob"}); rec.Code != http.StatusCreated {
		t.Errorf("another caller's new key = %d %s, want 201", rec.Code, rec.Body)
	}
	if rec := a.do(idemReq{body: `{}`, principal: "alice"}); rec.Code != http.StatusCreated {
		t.Errorf("alice without a key = %d %s, want 201", rec.Code, rec.Body)
	}
}
