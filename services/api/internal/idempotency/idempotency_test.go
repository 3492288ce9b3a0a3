package idempotency_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// api plays one replica: an outer middleware setting a correlation id, the
// idempotency middleware, a create handler counting its runs, and an error
// handler.
type api struct {
	creates atomic.Int64
	h       http.Handler
	// block, when set, holds the create handler until closed.
	block chan struct{}
	// entered is signalled when the create handler starts.
	entered chan struct{}
}

func newAPI(t *testing.T, r *faultredis.Redis, opts idempotency.Options) *api {
	t.Helper()
	a := &api{entered: make(chan struct{}, 10)}
	if opts.Scope == nil {
		opts.Scope = func(r *http.Request) string { return r.Header.Get("X-Principal") }
	}
	mw := idempotency.New(r.Client(t), opts)
	create := func(w http.ResponseWriter, r *http.Request) error {
		a.entered <- struct{}{}
		if a.block != nil {
			<-a.block
		}
		switch r.URL.Query().Get("fail") {
		case "error":
			return errors.New("handler error")
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			return nil
		case "panic":
			panic("handler panic")
		}
		n := a.creates.Add(1)
		w.Header().Set("Location", fmt.Sprintf("/api/inventory/%d", n))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id":"%d"}`, n)
		return nil
	}
	h := mw.Wrap(create)
	a.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Correlation-ID", r.Header.Get("X-Request-Seq"))
		defer func() {
			if v := recover(); v != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		if err := h(w, r); err != nil {
			w.WriteHeader(statusOf(err))
			fmt.Fprint(w, err)
		}
	})
	return a
}

func statusOf(err error) int {
	switch {
	case errors.Is(err, idempotency.ErrInvalidKey):
		return http.StatusBadRequest
	case errors.Is(err, idempotency.ErrMismatch):
		return http.StatusUnprocessableEntity
	case errors.Is(err, idempotency.ErrInProgress):
		return http.StatusConflict
	case errors.Is(err, idempotency.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

type req struct {
	method, path, key, body, principal, seq string
}

func (a *api) do(q req) *httptest.ResponseRecorder {
	if q.method == "" {
		q.method = http.MethodPost
	}
	if q.path == "" {
		q.path = "/api/inventory"
	}
	r := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
	if q.key != "" {
		r.Header.Set(idempotency.Header, q.key)
	}
	r.Header.Set("X-Principal", q.principal)
	r.Header.Set("X-Request-Seq", q.seq)
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	return rec
}

type response struct {
	Status   int
	Location string
	Body     string
}

func summary(rec *httptest.ResponseRecorder) response {
	return response{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
}

func TestReplayOnAnyReplica(t *testing.T) {
	r := faultredis.New(t)
	a1, a2 := newAPI(t, r, idempotency.Options{}), newAPI(t, r, idempotency.Options{})
	q := req{key: "k-1", body: `{"name":"postgres"}`, seq: "1"}

	first := a1.do(q)
	q.seq = "2"
	again := a2.do(q)

	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	if diff := cmp.Diff(summary(first), summary(again)); diff != "" {
		t.Errorf("replay on replica 2 differs (-first +replay):\n%s", diff)
	}
	if got := again.Header().Get(idempotency.ReplayedHeader); got != "true" {
		t.Errorf("%s = %q, want true", idempotency.ReplayedHeader, got)
	}
	if got := again.Header().Get("X-Correlation-ID"); got != "2" {
		t.Errorf("replay's X-Correlation-ID = %q, want the retry's own (2)", got)
	}
	if n := a1.creates.Load() + a2.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
	// Without a key, or another key, the request runs.
	a1.do(req{body: q.body})
	a1.do(req{key: "k-2", body: q.body})
	if n := a1.creates.Load() + a2.creates.Load(); n != 3 {
		t.Errorf("handler ran %d times after two unkeyed/new-key posts, want 3", n)
	}
}

func TestSameKeyDifferentRequest(t *testing.T) {
	r := faultredis.New(t)
	a := newAPI(t, r, idempotency.Options{})
	a.do(req{key: "k", body: `{"name":"a"}`})
	for _, q := range []req{
		{key: "k", body: `{"name":"b"}`},
		{key: "k", body: `{"name":"a"}`, path: "/api/inventory/import"},
	} {
		if rec := a.do(q); rec.Code != http.StatusUnprocessableEntity {
			t.Errorf("%+v: %d, want 422", q, rec.Code)
		}
	}
	if n := a.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestKeysAreScopedByCaller(t *testing.T) {
	r := faultredis.New(t)
	a := newAPI(t, r, idempotency.Options{})
	alice := a.do(req{key: "k", body: "{}", principal: "alice"})
	bob := a.do(req{key: "k", body: "{}", principal: "bob"})
	if bob.Header().Get(idempotency.ReplayedHeader) != "" || bob.Body.String() == alice.Body.String() {
		t.Errorf("bob got alice's response %q for the same key", bob.Body)
	}
}

func TestConcurrentRequestsOneRuns(t *testing.T) {
	r := faultredis.New(t)
	a1, a2 := newAPI(t, r, idempotency.Options{}), newAPI(t, r, idempotency.Options{})
	a1.block = make(chan struct{})
	q := req{key: "k", body: "{}"}

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
	if diff := cmp.Diff(summary(first), summary(third)); diff != "" {
		t.Errorf("retry after completion differs (-first +retry):\n%s", diff)
	}
	if n := a1.creates.Load() + a2.creates.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

func TestFailuresAreNotStored(t *testing.T) {
	for _, fail := range []string{"error", "500", "panic"} {
		t.Run(fail, func(t *testing.T) {
			r := faultredis.New(t)
			a := newAPI(t, r, idempotency.Options{})
			if rec := a.do(req{key: "k", path: "/api/inventory?fail=" + fail}); rec.Code != http.StatusInternalServerError {
				t.Fatalf("failing request: %d", rec.Code)
			}
			// The retry runs again (and fails again): the key was released.
			rec := a.do(req{key: "k", path: "/api/inventory?fail=" + fail})
			if rec.Code != http.StatusInternalServerError || rec.Header().Get(idempotency.ReplayedHeader) != "" {
				t.Errorf("retry after a failure: %d, replayed %q; want it to run again", rec.Code, rec.Header().Get(idempotency.ReplayedHeader))
			}
			if len(a.entered) != 2 {
				t.Errorf("handler entered %d times, want 2", len(a.entered))
			}
		})
	}
}

func TestRedisDown(t *testing.T) {
	tests := []struct {
		name     string
		failOpen bool
		want     int
	}{
		{"fails closed by default", false, http.StatusServiceUnavailable},
		{"fails open when configured", true, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			a := newAPI(t, r, idempotency.Options{FailOpen: tc.failOpen})
			r.Stop()
			if rec := a.do(req{key: "k", body: "{}"}); rec.Code != tc.want {
				t.Errorf("keyed POST with Redis down: %d, want %d", rec.Code, tc.want)
			}
			if rec := a.do(req{body: "{}"}); rec.Code != http.StatusCreated {
				t.Errorf("POST without a key with Redis down: %d, want 201", rec.Code)
			}
		})
	}
}

func TestBadKeysAndBodies(t *testing.T) {
	r := faultredis.New(t)
	a := newAPI(t, r, idempotency.Options{MaxBody: 10})
	if rec := a.do(req{key: `"unterminated`, body: "{}"}); rec.Code != http.StatusBadRequest {
		t.Errorf("malformed key: %d, want 400", rec.Code)
	}
	if rec := a.do(req{key: "k", body: strings.Repeat("x", 11)}); rec.Code != http.StatusRequestEntityTooLarge {
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
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{`"8e03978e-40d5"`, "8e03978e-40d5", true},
		{`"with space and \"quote\" and \\"`, `with space and "quote" and \`, true},
		{strings.Repeat("a", 255), strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), "", false},
		{"", "", false},
		{`""`, "", false},
		{`"abc`, "", false},
		{`"a"b"`, "", false},
		{`"bad\escape"`, "", false},
		{"has space", "", false},
		{"tab\there", "", false},
		{"naïve", "", false},
		{`a"b`, "", false},
	}
	for _, tc := range tests {
		got, err := idempotency.ParseKey(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, idempotency.ErrInvalidKey) {
			t.Errorf("ParseKey(%q) error %v is not ErrInvalidKey", tc.in, err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, `"a\"b"`, `"`, `""`, `"\`, "a b", strings.Repeat("z", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := idempotency.ParseKey(s)
		if err != nil {
			if !errors.Is(err, idempotency.ErrInvalidKey) {
				t.Fatalf("ParseKey(%q) error %v is not ErrInvalidKey", s, err)
			}
			return
		}
		if len(k) == 0 || len(k) > idempotency.MaxKeyLen {
			t.Fatalf("ParseKey(%q) = %q: length %d out of bounds", s, k, len(k))
		}
		for i := 0; i < len(k); i++ {
			if k[i] < 0x20 || k[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q holds a non-printable byte", s, k)
			}
		}
		// The quoted form of any key parses back to it.
		q := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(k) + `"`
		if back, err := idempotency.ParseKey(q); err != nil || back != k {
			t.Fatalf("ParseKey(%q) = %q, %v; want %q", q, back, err, k)
		}
	})
}
