package httpapi_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/redistest"
	"github.com/docker-examples/stack/services/api/internal/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// limitedPeer is the one client address the wired env limits to one
// request a minute; everyone else has plenty.
const limitedPeer = "192.0.2.99"

// newWiredEnv is newEnv with the real Redis-backed sessions, rate limiter
// and idempotency middleware, as cmd/api wires them.
func newWiredEnv(t *testing.T) (*env, *session.Manager) {
	t.Helper()
	rdb := redistest.New(t)
	keys, err := auth.NewAPIKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	sessions := session.NewManager(rdb, session.NewAdmin("admin", secret.New("s3cret-pass")), session.Options{})
	limiter, err := ratelimit.New(rdb, ratelimit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(d *httpapi.Deps) {
		d.Auth = auth.Chain{keys, sessions}
		d.Sessions = sessions
		plenty := ratelimit.Limit{Rate: 1000, Burst: 1000, Period: time.Minute}
		d.RateLimit = httpapi.RateLimit{Limiter: strictFor{limiter, "ip:" + limitedPeer}, PerIP: plenty, PerKey: plenty}
		d.Idempotency = idempotency.New(rdb, idempotency.Options{})
	})
	return e, sessions
}

// strictFor gives the budget key one request a minute and every other
// key the limit it is asked for.
type strictFor struct {
	l   httpapi.Limiter
	key string
}

func (s strictFor) Allow(ctx context.Context, key string, limit ratelimit.Limit) (ratelimit.Result, error) {
	if key == s.key {
		limit = ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute}
	}
	return s.l.Allow(ctx, key, limit)
}

// TestOpenAPIMatchesWiredResponses validates the responses of the routes
// and middleware that need Redis (login, session, CSRF, idempotency, rate
// limit) against the document.
func TestOpenAPIMatchesWiredResponses(t *testing.T) {
	e, _ := newWiredEnv(t)
	doc := loadDoc(t, e)

	login := e.do(t, req{method: "POST", path: "/api/auth/login", body: map[string]any{"username": "admin", "password": "s3cret-pass"}})
	wantStatus(t, login, http.StatusOK)
	csrf := decode[struct {
		CSRFToken string `json:"csrf_token"`
	}](t, login).CSRFToken
	cookie := strings.SplitN(login.Header().Get("Set-Cookie"), ";", 2)[0]
	withCookie := func(h map[string]string) map[string]string {
		h["Cookie"] = cookie
		return h
	}
	item := map[string]any{"name": "wired", "image": "redis:7"}
	seen := checkAgainstDoc(t, e, doc, []docCase{
		{req{method: "POST", path: "/api/auth/login", body: map[string]any{"username": "admin", "password": "wrong"}}, true},
		{req{method: "POST", path: "/api/auth/login", body: `{"username":`}, false},
		{req{method: "GET", path: "/api/auth/session", header: withCookie(map[string]string{})}, true},
		{req{method: "POST", path: "/api/inventory", body: item, header: withCookie(map[string]string{"X-API-Key": ""})}, true}, // 403: no CSRF
		{req{method: "POST", path: "/api/inventory", body: item, header: withCookie(map[string]string{"X-API-Key": "", "X-CSRF-Token": csrf, "Idempotency-Key": "doc-1"})}, true},
		{req{method: "POST", path: "/api/inventory", body: item, header: withCookie(map[string]string{"X-API-Key": "", "X-CSRF-Token": csrf, "Idempotency-Key": "doc-1"})}, true},                                          // replay
		{req{method: "POST", path: "/api/inventory", body: map[string]any{"name": "other", "image": "x"}, header: withCookie(map[string]string{"X-API-Key": "", "X-CSRF-Token": csrf, "Idempotency-Key": "doc-1"})}, true}, // 422
		{req{method: "POST", path: "/api/inventory", body: item, header: map[string]string{"Idempotency-Key": `"unterminated`}}, true},                                                                                     // 400
		{req{method: "GET", path: "/api/inventory", remote: limitedPeer + ":1"}, true},
		{req{method: "GET", path: "/api/inventory", remote: limitedPeer + ":1"}, true}, // 429
		{req{method: "POST", path: "/api/auth/logout", header: withCookie(map[string]string{})}, true},
	})
	for _, code := range []int{200, 201, 204, 400, 401, 403, 422, 429} {
		if !seen[code] {
			t.Errorf("no request answered %d: the test lost coverage", code)
		}
	}
}

// TestIdempotentReplayThroughEcho checks the replay is the stored
// response, and echo's response (access log, metrics) knows its status.
func TestIdempotentReplayThroughEcho(t *testing.T) {
	e, _ := newWiredEnv(t)
	h := map[string]string{"Idempotency-Key": "adapter-1"}
	first := e.do(t, req{method: "POST", path: "/api/inventory", body: pgInput, header: h})
	again := e.do(t, req{method: "POST", path: "/api/inventory", body: pgInput, header: h})
	wantStatus(t, first, http.StatusCreated)
	wantStatus(t, again, http.StatusCreated)
	if first.Body.String() != again.Body.String() || again.Header().Get("Idempotent-Replayed") != "true" ||
		again.Header().Get("Location") != first.Header().Get("Location") {
		t.Errorf("replay = %v %s, want the first response %v %s", again.Header(), again.Body, first.Header(), first.Body)
	}
	if again.Header().Get("X-Correlation-ID") == first.Header().Get("X-Correlation-ID") {
		t.Error("the replay repeats the first request's correlation id")
	}
	if n := strings.Count(e.logs.String(), `"route":"/api/inventory","path":"/api/inventory","status":201`); n != 2 {
		t.Errorf("%d access log lines with status 201, want 2:\n%s", n, e.logs)
	}
	if len(e.store.items) != 1 {
		t.Errorf("%d items stored, want 1", len(e.store.items))
	}
}

// TestSignInRoutes holds the browser sign-in's HTTP contract: a session
// cookie and a CSRF token at login, bodies that fail as every body does,
// the session's state, and logout.
func TestSignInRoutes(t *testing.T) {
	e, _ := newWiredEnv(t)
	for _, tc := range []struct {
		body   string
		status int
		slug   string
	}{
		{`{`, http.StatusBadRequest, "malformed-json"},
		{`[]`, http.StatusBadRequest, "malformed-json"},
		{`{"username":"admin","password":"x","admin":true}`, http.StatusUnprocessableEntity, "validation"},
		{`{"username":1}`, http.StatusUnprocessableEntity, "validation"},
		{`{"username":"admin","password":"wrong"}`, http.StatusUnauthorized, "unauthorized"},
	} {
		w := e.do(t, req{method: "POST", path: "/api/auth/login", body: tc.body})
		wantProblem(t, w, tc.status, tc.slug)
		if c := w.Header().Get("Set-Cookie"); c != "" {
			t.Errorf("login %s set a cookie %q", tc.body, c)
		}
	}

	login := e.do(t, req{method: "POST", path: "/api/auth/login", body: `{"username":"admin","password":"s3cret-pass"}`})
	wantStatus(t, login, http.StatusOK)
	if cc := login.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("login Cache-Control = %q, want no-store", cc)
	}
	got := decode[map[string]any](t, login)
	if got["username"] != "admin" || got["csrf_token"] == "" {
		t.Errorf("login answered %v, want the username and a csrf_token", got)
	}
	cookie := strings.SplitN(login.Header().Get("Set-Cookie"), ";", 2)[0]

	state := func() map[string]any {
		t.Helper()
		w := e.do(t, req{method: "GET", path: "/api/auth/session", header: map[string]string{"Cookie": cookie}})
		wantStatus(t, w, http.StatusOK)
		return decode[map[string]any](t, w)
	}
	if s := state(); s["authenticated"] != true || s["username"] != "admin" || s["csrf_token"] != got["csrf_token"] {
		t.Errorf("session after login = %v, want admin with the login's csrf_token", s)
	}
	out := e.do(t, req{method: "POST", path: "/api/auth/logout", header: map[string]string{"Cookie": cookie}})
	wantStatus(t, out, http.StatusNoContent)
	if c := out.Header().Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("logout Set-Cookie = %q, want the session cookie cleared", c)
	}
	if s := state(); s["authenticated"] != false {
		t.Errorf("session after logout = %v, want not authenticated", s)
	}
}
