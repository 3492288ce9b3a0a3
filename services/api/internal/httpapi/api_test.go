package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/health"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/store"
)

const testKey = "test-key-0123456789"

// env is one API under test, with its fakes.
type env struct {
	h      http.Handler
	store  *memStore
	events *recorder
	health *health.Checker
	pg     *fakeDep
	redis  *fakeDep
	logs   *syncBuffer
}

type fakeDep struct {
	mu   sync.Mutex
	down bool
}

func (d *fakeDep) set(down bool) { d.mu.Lock(); d.down = down; d.mu.Unlock() }
func (d *fakeDep) ping(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return errors.New("down")
	}
	return nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newEnv(t testing.TB, tweak ...func(*httpapi.Deps)) *env {
	t.Helper()
	keys, err := auth.NewAPIKeys(testKey)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{store: newMemStore(), events: &recorder{}, pg: &fakeDep{}, redis: &fakeDep{}, logs: &syncBuffer{}}
	e.health = health.NewChecker(time.Second,
		health.Dependency{Name: "postgres", Required: true, Ping: e.pg.ping},
		health.Dependency{Name: "redis", Ping: e.redis.ping})
	d := httpapi.Deps{
		Log:            logging.New(e.logs, "api", -4),
		Items:          e.store,
		Health:         e.health,
		Metrics:        metrics.New(),
		Auth:           auth.Chain{keys},
		Events:         e.events,
		InstanceID:     "api-test",
		StartedAt:      time.Now(),
		CORSOrigins:    []string{"https://ui.example.com"},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
	}
	for _, f := range tweak {
		f(&d)
	}
	e.h = httpapi.New(d)
	return e
}

// req describes one request; a string body is sent as is.
type req struct {
	method, path string
	body         any
	header       map[string]string
	remote       string
}

func (e *env) do(t testing.TB, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.method != http.MethodGet && r.method != http.MethodHead && r.method != http.MethodOptions {
		hr.Header.Set("X-API-Key", testKey)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w
}

func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("response %d is not JSON: %v\n%s", w.Code, err, w.Body)
	}
	return v
}

func wantStatus(t testing.TB, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status = %d, want %d; body: %s", w.Code, want, w.Body)
	}
}

// wantProblem checks w is a problem+json of status and type slug, and
// returns it.
func wantProblem(t testing.TB, w *httptest.ResponseRecorder, status int, slug string) httpapi.Problem {
	t.Helper()
	wantStatus(t, w, status)
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	p := decode[httpapi.Problem](t, w)
	if p.Type != httpapi.ProblemTypeBase+slug || p.Status != status || p.Title == "" {
		t.Errorf("problem = %+v, want type %s and status %d", p, slug, status)
	}
	if p.CorrelationID == "" || p.CorrelationID != w.Header().Get("X-Correlation-ID") {
		t.Errorf("problem correlation_id %q, header %q: want the same, non-empty", p.CorrelationID, w.Header().Get("X-Correlation-ID"))
	}
	return p
}

var pgInput = map[string]any{
	"name": "postgres", "image": "postgres:17-alpine", "description": "primary database",
	"labels": []string{"db"}, "source_url": "https://github.com/docker-library/postgres",
	"docs_urls": []string{"https://hub.docker.com/_/postgres"},
}

func (e *env) create(t testing.TB, in map[string]any) inventory.Item {
	t.Helper()
	w := e.do(t, req{method: "POST", path: "/api/inventory", body: in})
	wantStatus(t, w, http.StatusCreated)
	return decode[inventory.Item](t, w)
}

func TestItemLifecycle(t *testing.T) {
	e := newEnv(t)

	w := e.do(t, req{method: "POST", path: "/api/inventory", body: pgInput})
	wantStatus(t, w, http.StatusCreated)
	it := decode[inventory.Item](t, w)
	if got, want := w.Header().Get("Location"), "/api/inventory/"+it.ID.String(); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if it.ImageNormalized != "docker.io/library/postgres:17-alpine" || it.Version != 1 {
		t.Errorf("created = %+v, want the normalised image and version 1", it)
	}
	tag := w.Header().Get("ETag")
	if tag == "" {
		t.Fatal("no ETag on create")
	}
	path := "/api/inventory/" + it.ID.String()

	w = e.do(t, req{method: "GET", path: path})
	wantStatus(t, w, http.StatusOK)
	if d := cmp.Diff(it, decode[inventory.Item](t, w)); d != "" {
		t.Errorf("GET (-created +got):\n%s", d)
	}
	if w.Header().Get("ETag") != tag {
		t.Errorf("GET ETag = %q, want %q", w.Header().Get("ETag"), tag)
	}
	w = e.do(t, req{method: "GET", path: path, header: map[string]string{"If-None-Match": tag}})
	wantStatus(t, w, http.StatusNotModified)
	if w.Body.Len() != 0 {
		t.Errorf("304 has a body: %s", w.Body)
	}

	patch := `{"description": null, "labels": ["db", "critical"]}`
	w = e.do(t, req{method: "PATCH", path: path, body: patch,
		header: map[string]string{"Content-Type": "application/merge-patch+json", "If-Match": tag}})
	wantStatus(t, w, http.StatusOK)
	patched := decode[inventory.Item](t, w)
	if patched.Description != "" || !cmp.Equal(patched.Labels, []string{"db", "critical"}) || patched.Version != 2 ||
		patched.Name != "postgres" || patched.SourceURL == "" {
		t.Errorf("patched = %+v: want description reset, labels replaced, other fields kept, version 2", patched)
	}
	newTag := w.Header().Get("ETag")
	if newTag == tag {
		t.Error("ETag did not change with the write")
	}

	// A second writer still holding the first ETag must not overwrite.
	w = e.do(t, req{method: "PATCH", path: path, body: `{"description":"stale"}`,
		header: map[string]string{"If-Match": tag}})
	wantProblem(t, w, http.StatusPreconditionFailed, "precondition-failed")
	w = e.do(t, req{method: "PUT", path: path, body: pgInput, header: map[string]string{"If-Match": tag}})
	wantProblem(t, w, http.StatusPreconditionFailed, "precondition-failed")
	w = e.do(t, req{method: "DELETE", path: path, header: map[string]string{"If-Match": tag}})
	wantProblem(t, w, http.StatusPreconditionFailed, "precondition-failed")

	replaced := map[string]any{"name": "postgres", "image": "postgres:18"}
	w = e.do(t, req{method: "PUT", path: path, body: replaced, header: map[string]string{"If-Match": newTag}})
	wantStatus(t, w, http.StatusOK)
	got := decode[inventory.Item](t, w)
	if got.Description != "" || len(got.Labels) != 0 || got.ImageNormalized != "docker.io/library/postgres:18" || got.Version != 3 {
		t.Errorf("PUT = %+v: want the absent fields cleared and version 3", got)
	}

	w = e.do(t, req{method: "DELETE", path: path, header: map[string]string{"If-Match": w.Header().Get("ETag")}})
	wantStatus(t, w, http.StatusNoContent)
	wantProblem(t, e.do(t, req{method: "GET", path: path}), http.StatusNotFound, "not-found")
	wantProblem(t, e.do(t, req{method: "DELETE", path: path}), http.StatusNotFound, "not-found")

	if d := cmp.Diff([]string{"item.created", "item.updated", "item.updated", "item.deleted"}, e.events.types()); d != "" {
		t.Errorf("published events (-want +got):\n%s", d)
	}
}

func TestIfMatchStarAndWeakTags(t *testing.T) {
	e := newEnv(t)
	it := e.create(t, pgInput)
	path := "/api/inventory/" + it.ID.String()
	w := e.do(t, req{method: "PATCH", path: path, body: `{"description":"x"}`, header: map[string]string{"If-Match": `W/"v1"`}})
	wantProblem(t, w, http.StatusPreconditionFailed, "precondition-failed")
	w = e.do(t, req{method: "PATCH", path: path, body: `{"description":"x"}`, header: map[string]string{"If-Match": `"v9", "v1"`}})
	wantStatus(t, w, http.StatusOK)
	w = e.do(t, req{method: "PATCH", path: path, body: `{"description":"y"}`, header: map[string]string{"If-Match": `*`}})
	wantStatus(t, w, http.StatusOK)
	w = e.do(t, req{method: "GET", path: path, header: map[string]string{"If-None-Match": `W/"v3"`}})
	wantStatus(t, w, http.StatusNotModified)
}

func TestWritesNeedAnAPIKey(t *testing.T) {
	e := newEnv(t)
	it := e.create(t, pgInput)
	path := "/api/inventory/" + it.ID.String()
	for _, key := range []string{"", "wrong-key-0123456789"} {
		for _, r := range []req{
			{method: "POST", path: "/api/inventory", body: map[string]any{"name": "x", "image": "x"}},
			{method: "PUT", path: path, body: pgInput},
			{method: "PATCH", path: path, body: `{}`},
			{method: "DELETE", path: path},
		} {
			r.header = map[string]string{"X-API-Key": key}
			w := e.do(t, r)
			wantProblem(t, w, http.StatusUnauthorized, "unauthorized")
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: 401 without WWW-Authenticate", r.method, r.path)
			}
		}
	}
	// Reads are public.
	wantStatus(t, e.do(t, req{method: "GET", path: path}), http.StatusOK)
	wantStatus(t, e.do(t, req{method: "GET", path: "/api/inventory"}), http.StatusOK)
	if n := len(e.events.types()); n != 1 {
		t.Errorf("%d events, want 1: a refused write was published", n)
	}
}

func TestClientMistakesAre4xxProblems(t *testing.T) {
	e := newEnv(t)
	it := e.create(t, pgInput)
	path := "/api/inventory/" + it.ID.String()
	tests := []struct {
		name   string
		r      req
		status int
		slug   string
		field  string
	}{
		{"malformed JSON", req{method: "POST", path: "/api/inventory", body: `{"name": "x",`}, 400, "malformed-json", ""},
		{"syntax error", req{method: "POST", path: "/api/inventory", body: `{"name" "x"}`}, 400, "malformed-json", ""},
		{"empty body", req{method: "POST", path: "/api/inventory", body: ``}, 400, "malformed-json", ""},
		{"array body", req{method: "POST", path: "/api/inventory", body: `[]`}, 400, "malformed-json", ""},
		{"null body", req{method: "POST", path: "/api/inventory", body: `null`}, 400, "malformed-json", ""},
		{"two objects", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a"}{}`}, 400, "malformed-json", ""},
		{"unknown field", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a","admin":true}`}, 422, "validation", "admin"},
		{"read-only field", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a","id":"x"}`}, 422, "validation", "id"},
		{"wrong type", req{method: "POST", path: "/api/inventory", body: `{"name":["a"],"image":"a"}`}, 422, "validation", "name"},
		{"wrong element type", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a","labels":[1]}`}, 422, "validation", "labels"},
		{"missing fields", req{method: "POST", path: "/api/inventory", body: `{}`}, 422, "validation", "name"},
		{"bad image", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"Not An Image"}`}, 422, "validation", "image"},
		{"ftp url", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a","source_url":"ftp://x.example"}`}, 422, "validation", "source_url"},
		{"NUL byte", req{method: "POST", path: "/api/inventory", body: `{"name":"a\u0000","image":"a"}`}, 422, "validation", "name"},
		{"duplicate name", req{method: "POST", path: "/api/inventory", body: `{"name":"POSTGRES","image":"a"}`}, 409, "conflict", ""},
		{"text/plain", req{method: "POST", path: "/api/inventory", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported-media-type", ""},
		{"no content type", req{method: "POST", path: "/api/inventory", body: `{}`, header: map[string]string{"Content-Type": ""}}, 415, "unsupported-media-type", ""},
		{"merge patch on PUT", req{method: "PUT", path: path, body: `{}`, header: map[string]string{"Content-Type": "application/merge-patch+json"}}, 415, "unsupported-media-type", ""},
		{"oversized body", req{method: "POST", path: "/api/inventory", body: `{"name":"a","image":"a","description":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`}, 413, "payload-too-large", ""},
		{"bad id", req{method: "GET", path: "/api/inventory/42"}, 422, "validation", "id"},
		{"bad id on delete", req{method: "DELETE", path: "/api/inventory/%27%20OR%201=1"}, 422, "validation", "id"},
		{"unknown id", req{method: "GET", path: "/api/inventory/" + uuid.NewString()}, 404, "not-found", ""},
		{"limit too big", req{method: "GET", path: "/api/inventory?limit=101"}, 422, "validation", "limit"},
		{"limit not a number", req{method: "GET", path: "/api/inventory?limit=ten"}, 422, "validation", "limit"},
		{"made-up cursor", req{method: "GET", path: "/api/inventory?cursor=forged"}, 400, "bad-cursor", "cursor"},
		{"unsigned cursor", req{method: "GET", path: "/api/inventory?cursor=AQGToOR8Pn0qmksfLj1MW2o"}, 400, "bad-cursor", "cursor"},
		{"bad image filter", req{method: "GET", path: "/api/inventory?image=UPPER"}, 422, "validation", "image"},
		{"patch unknown field", req{method: "PATCH", path: path, body: `{"owner":"me"}`}, 422, "validation", "owner"},
		{"patch removes the name", req{method: "PATCH", path: path, body: `{"name":null}`}, 422, "validation", "name"},
		{"patch wrong type", req{method: "PATCH", path: path, body: `{"labels":"db"}`}, 422, "validation", "labels"},
		{"patch bad tag pattern", req{method: "PATCH", path: path, body: `{"tag_exclude":"17.4-(alpine"}`}, 422, "validation", "tag_exclude"},
		{"patch not an object", req{method: "PATCH", path: path, body: `"x"`}, 400, "malformed-json", ""},
		{"no route", req{method: "GET", path: "/api/nothing"}, 404, "not-found", ""},
		{"wrong method", req{method: "PUT", path: "/api/inventory"}, 405, "method-not-allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.do(t, tt.r)
			p := wantProblem(t, w, tt.status, tt.slug)
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors = %+v, want the first about %q", p.Errors, tt.field)
			}
		})
	}
	got, _ := e.store.GetItem(context.Background(), it.ID)
	if got.Version != 1 {
		t.Errorf("item changed to version %d by refused requests", got.Version)
	}
}

func TestTagPatterns(t *testing.T) {
	e := newEnv(t)
	in := map[string]any{"name": "postgres", "image": "postgres:17.2-alpine",
		"tag_include": `^17\.\d+-alpine$`, "tag_exclude": `17\.4-alpine`}
	it := e.create(t, in)
	if it.TagInclude != `^17\.\d+-alpine$` || it.TagExclude != `17\.4-alpine` {
		t.Errorf("created with tag_include %q tag_exclude %q, want the patterns sent", it.TagInclude, it.TagExclude)
	}
	path := "/api/inventory/" + it.ID.String()
	w := e.do(t, req{method: "PATCH", path: path, body: `{"tag_exclude":null}`})
	wantStatus(t, w, http.StatusOK)
	if got := decode[inventory.Item](t, w); got.TagExclude != "" || got.TagInclude != it.TagInclude {
		t.Errorf("after a patch resetting tag_exclude: include %q exclude %q", got.TagInclude, got.TagExclude)
	}

	// A pattern that does not compile is refused, naming the field, and
	// nothing is written.
	for _, tt := range []struct{ name, body, field string }{
		{"unclosed group", `{"name":"redis","image":"redis:7","tag_include":"7.(\\d+"}`, "tag_include"},
		{"escapes the anchors", `{"name":"redis","image":"redis:7","tag_include":"a)|(.*"}`, "tag_include"},
		{"Perl syntax RE2 lacks", `{"name":"redis","image":"redis:7","tag_exclude":"(?!rc)"}`, "tag_exclude"},
		{"too long", `{"name":"redis","image":"redis:7","tag_exclude":"` + strings.Repeat("a", 257) + `"}`, "tag_exclude"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := wantProblem(t, e.do(t, req{method: "POST", path: "/api/inventory", body: tt.body}), http.StatusUnprocessableEntity, "validation")
			if len(p.Errors) != 1 || p.Errors[0].Field != tt.field || !strings.Contains(p.Errors[0].Message, "regular expression") && tt.name != "too long" {
				t.Errorf("errors = %+v, want one about %s", p.Errors, tt.field)
			}
		})
	}
	page, _ := e.store.ListItems(context.Background(), inventory.ListQuery{Limit: 10})
	if len(page.Items) != 1 {
		t.Errorf("%d items stored, want 1: a refused create was written", len(page.Items))
	}
	w = e.do(t, req{method: "PUT", path: path, body: map[string]any{"name": "postgres", "image": "postgres:17", "tag_include": "["}})
	wantProblem(t, w, http.StatusUnprocessableEntity, "validation")
	if got, _ := e.store.GetItem(context.Background(), it.ID); got.Version != 2 || got.ImageNormalized != "docker.io/library/postgres:17.2-alpine" {
		t.Errorf("a refused PUT changed the item: version %d image %s", got.Version, got.ImageNormalized)
	}
}

func TestOversizedChunkedBodyIs413(t *testing.T) {
	e := newEnv(t)
	body := io.MultiReader(strings.NewReader(`{"name":"a","image":"a","description":"`),
		strings.NewReader(strings.Repeat("x", 2*httpapi.MaxBodyBytes)), strings.NewReader(`"}`))
	r := httptest.NewRequest("POST", "/api/inventory", body)
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", testKey)
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	wantProblem(t, w, http.StatusRequestEntityTooLarge, "payload-too-large")
}

func TestPaginationAndFilters(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("svc-%d", i)
		img := "redis:7"
		if i%2 == 0 {
			img = "postgres:17"
		}
		e.create(t, map[string]any{"name": name, "image": img, "labels": []string{fmt.Sprintf("l%d", i%3)}})
		want = append([]string{name}, want...)
	}
	var got []string
	next := "/api/inventory?limit=3"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		w := e.do(t, req{method: "GET", path: next})
		wantStatus(t, w, http.StatusOK)
		type pageBody struct {
			Items      []inventory.Item `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		page := decode[pageBody](t, w)
		for _, it := range page.Items {
			got = append(got, it.Name)
		}
		next = ""
		if page.NextCursor != nil {
			next = "/api/inventory?limit=3&cursor=" + *page.NextCursor
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("names over all pages (-want +got):\n%s", d)
	}

	names := func(path string) []string {
		w := e.do(t, req{method: "GET", path: path})
		wantStatus(t, w, http.StatusOK)
		var out []string
		for _, it := range decode[struct{ Items []inventory.Item }](t, w).Items {
			out = append(out, it.Name)
		}
		return out
	}
	if d := cmp.Diff([]string{"svc-6", "svc-4", "svc-2", "svc-0"}, names("/api/inventory?image=postgres")); d != "" {
		t.Errorf("image=postgres (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"svc-4", "svc-1"}, names("/api/inventory?label=l1")); d != "" {
		t.Errorf("label=l1 (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"svc-3"}, names("/api/inventory?q=C-3")); d != "" {
		t.Errorf("q=C-3 (-want +got):\n%s", d)
	}
	w := e.do(t, req{method: "GET", path: "/api/inventory?q=nothing"})
	if body := strings.TrimSpace(w.Body.String()); body != `{"items":[]}` {
		t.Errorf("empty list = %s, want {\"items\":[]}", body)
	}
}

// withCursorKey makes an env sign cursors with key, as replicas sharing it do.
func withCursorKey(key string) func(*httpapi.Deps) {
	return func(d *httpapi.Deps) {
		c, err := inventory.NewCursors([]byte(key))
		d.Cursors = func(context.Context) (*inventory.Cursors, error) { return c, err }
	}
}

// A cursor is good on every replica that shares the key and on no other,
// and only for the list it came from; an outage of the key's store is 503.
func TestCursorsAreSignedForTheirList(t *testing.T) {
	const key = "replicas-share-this-key-0123456789"
	a, b := newEnv(t, withCursorKey(key)), newEnv(t, withCursorKey(key))
	other := newEnv(t, withCursorKey("another-deployment-key-0123456789"))
	for _, e := range []*env{a, b, other} {
		for i := range 3 {
			e.create(t, map[string]any{"name": fmt.Sprintf("svc-%d", i), "image": "redis:7", "labels": []string{"db"}})
		}
	}
	w := a.do(t, req{method: "GET", path: "/api/inventory?limit=2&label=db"})
	wantStatus(t, w, http.StatusOK)
	cursor := decode[struct {
		NextCursor string `json:"next_cursor"`
	}](t, w).NextCursor
	if cursor == "" {
		t.Fatal("no next_cursor")
	}
	// Item ids differ between the envs' stores: B answers what is older
	// than A's item, here its own three items or fewer.
	wantStatus(t, b.do(t, req{method: "GET", path: "/api/inventory?limit=2&label=db&cursor=" + cursor}), http.StatusOK)
	wantProblem(t, other.do(t, req{method: "GET", path: "/api/inventory?limit=2&label=db&cursor=" + cursor}), http.StatusBadRequest, "bad-cursor")
	wantProblem(t, a.do(t, req{method: "GET", path: "/api/inventory?limit=2&label=web&cursor=" + cursor}), http.StatusBadRequest, "bad-cursor")
	wantProblem(t, a.do(t, req{method: "GET", path: "/api/inventory?limit=2&cursor=" + cursor}), http.StatusBadRequest, "bad-cursor")

	down := newEnv(t, func(d *httpapi.Deps) {
		d.Cursors = func(context.Context) (*inventory.Cursors, error) { return nil, store.ErrUnavailable }
	})
	wantProblem(t, down.do(t, req{method: "GET", path: "/api/inventory"}), http.StatusServiceUnavailable, "unavailable")
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	for _, r := range []req{
		{method: "GET", path: "/health"},
		{method: "GET", path: "/api/inventory"},
		{method: "GET", path: "/api/inventory/nope"},
		{method: "GET", path: "/nowhere"},
		{method: "POST", path: "/api/inventory", body: `{`},
		{method: "DELETE", path: "/api/inventory", header: map[string]string{"X-API-Key": ""}},
	} {
		w := e.do(t, r)
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := w.Header().Get(h); got != want {
				t.Errorf("%s %s (%d): %s = %q, want %q", r.method, r.path, w.Code, h, got, want)
			}
		}
		for _, h := range []string{"Permissions-Policy", "Content-Security-Policy", "X-Correlation-ID"} {
			if w.Header().Get(h) == "" {
				t.Errorf("%s %s (%d): no %s", r.method, r.path, w.Code, h)
			}
		}
		if w.Header().Get("Strict-Transport-Security") != "" {
			t.Errorf("%s %s: HSTS over plain http", r.method, r.path)
		}
	}
}

func TestHSTSOnlyOverHTTPSFromTrustedProxies(t *testing.T) {
	e := newEnv(t)
	proto := map[string]string{"X-Forwarded-Proto": "https"}
	if w := e.do(t, req{method: "GET", path: "/health", header: proto, remote: "10.1.2.3:5555"}); w.Header().Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS when a trusted proxy says https")
	}
	if w := e.do(t, req{method: "GET", path: "/health", header: proto, remote: "203.0.113.9:5555"}); w.Header().Get("Strict-Transport-Security") != "" {
		t.Error("HSTS because an untrusted client said https")
	}
}

func TestClientIPComesOnlyFromTrustedProxies(t *testing.T) {
	e := newEnv(t)
	xff := map[string]string{"X-Forwarded-For": "198.51.100.7, 10.0.0.9"}
	e.do(t, req{method: "GET", path: "/health", header: xff, remote: "10.1.2.3:1"})
	e.do(t, req{method: "GET", path: "/api/status", header: xff, remote: "203.0.113.9:1"})
	logs := e.logs.String()
	for _, want := range []string{
		`"path":"/health","status":200,`,
		`"client_ip":"198.51.100.7"`,
		`"path":"/api/status","status":200,`,
		`"client_ip":"203.0.113.9"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

func TestCORSAllowList(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, req{method: "GET", path: "/api/inventory", header: map[string]string{"Origin": "https://ui.example.com"}})
	if w.Header().Get("Access-Control-Allow-Origin") != "https://ui.example.com" || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: headers %v", w.Header())
	}
	w = e.do(t, req{method: "GET", path: "/api/inventory", header: map[string]string{"Origin": "https://evil.example"}})
	if v := w.Header().Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("other origin got Access-Control-Allow-Origin %q", v)
	}
	pre := map[string]string{"Origin": "https://ui.example.com", "Access-Control-Request-Method": "PATCH",
		"Access-Control-Request-Headers": "if-match, x-api-key, content-type"}
	w = e.do(t, req{method: "OPTIONS", path: "/api/inventory/" + uuid.NewString(), header: pre})
	wantStatus(t, w, http.StatusNoContent)
	if !strings.Contains(w.Header().Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(w.Header().Get("Access-Control-Allow-Headers"), "If-Match") {
		t.Errorf("preflight headers %v", w.Header())
	}
	pre["Origin"] = "https://evil.example"
	w = e.do(t, req{method: "OPTIONS", path: "/api/inventory", header: pre})
	if v := w.Header().Get("Access-Control-Allow-Origin"); v != "" || w.Header().Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight from another origin got CORS headers %v", w.Header())
	}
}

func TestCorrelationID(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		in   string
		echo bool
	}{
		{"abc-123", true},
		{"lb:0a1b2c", true}, // as the lb and the frontend take it
		{strings.Repeat("a", 128), true},
		{`quo"te`, false}, // the api took any printable ASCII before the one rule
		{"a/b", false},
		{strings.Repeat("a", 129), false},
		{"has space", false},
		{"new\nline", false},
		{"ünïcode", false},
		{"", false},
	}
	for _, tt := range tests {
		w := e.do(t, req{method: "POST", path: "/api/inventory", body: `{}`, header: map[string]string{"X-Correlation-ID": tt.in}})
		got := w.Header().Get("X-Correlation-ID")
		if tt.echo && got != tt.in || !tt.echo && (got == tt.in || len(got) != 32) {
			t.Errorf("X-Correlation-ID %q answered %q", tt.in, got)
		}
		// Every log line of the request carries the id.
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
			if strings.Contains(line, `"correlation_id":"`+got+`"`) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no log line carries correlation id %q", got)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		if !strings.Contains(line, `"correlation_id":`) {
			t.Errorf("log line without a correlation id: %s", line)
		}
	}
}

func TestReadiness(t *testing.T) {
	e := newEnv(t)
	check := func(wantCode int, wantStatus string) {
		t.Helper()
		w := e.do(t, req{method: "GET", path: "/ready"})
		rep := decode[health.Report](t, w)
		if w.Code != wantCode || rep.Status != wantStatus {
			t.Errorf("/ready = %d %s, want %d %s", w.Code, rep.Status, wantCode, wantStatus)
		}
	}
	check(200, "ok")
	e.redis.set(true)
	check(200, "degraded")
	e.pg.set(true)
	check(503, "down")
	e.pg.set(false)
	e.redis.set(false)
	e.health.Drain()
	check(503, "draining")
	// Liveness does not depend on anything.
	wantStatus(t, e.do(t, req{method: "GET", path: "/health"}), http.StatusOK)
}

func TestStatus(t *testing.T) {
	e := newEnv(t)
	e.redis.set(true)
	w := e.do(t, req{method: "GET", path: "/api/status"})
	wantStatus(t, w, http.StatusOK)
	type status struct {
		Version      string                            `json:"version"`
		InstanceID   string                            `json:"instance_id"`
		Dependencies map[string]health.DependencyState `json:"dependencies"`
		Replicas     []httpapi.Replica                 `json:"replicas"`
	}
	st := decode[status](t, w)
	if st.InstanceID != "api-test" || st.Dependencies["postgres"].Status != "up" ||
		st.Dependencies["redis"].Status != "down" || st.Replicas == nil {
		t.Errorf("status = %+v", st)
	}
}

func TestDatabaseOutageIs503(t *testing.T) {
	e := newEnv(t)
	e.store.err = fmt.Errorf("store: list items: %w: dial tcp: refused", store.ErrUnavailable)
	w := e.do(t, req{method: "GET", path: "/api/inventory"})
	p := wantProblem(t, w, http.StatusServiceUnavailable, "unavailable")
	if w.Header().Get("Retry-After") == "" || strings.Contains(p.Detail, "dial") {
		t.Errorf("503 = %+v, Retry-After %q: want a Retry-After and no internal detail", p, w.Header().Get("Retry-After"))
	}
}

func TestBugsAre500WithoutDetailsAndLoggedOnce(t *testing.T) {
	e := newEnv(t)
	e.store.panicOn = uuid.Must(uuid.NewV7())
	w := e.do(t, req{method: "GET", path: "/api/inventory/" + e.store.panicOn.String()})
	p := wantProblem(t, w, http.StatusInternalServerError, "internal")
	if strings.Contains(w.Body.String(), "boom") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("500 body leaks internals: %s", w.Body)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, `"msg":"request failed"`); n != 1 || !strings.Contains(logs, "boom") {
		t.Errorf("want the panic logged once with its message, got %d lines:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"correlation_id":"`+p.CorrelationID+`"`) {
		t.Error("the error log line lacks the correlation id")
	}
	// The server survives.
	wantStatus(t, e.do(t, req{method: "GET", path: "/health"}), http.StatusOK)
}

func TestAFailingPublisherDoesNotFailWrites(t *testing.T) {
	e := newEnv(t)
	e.events.fail = true
	e.create(t, pgInput)
	if !strings.Contains(e.logs.String(), "publish event failed") {
		t.Error("the publish failure was not logged")
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	it := e.create(t, pgInput)
	e.do(t, req{method: "GET", path: "/api/inventory/" + it.ID.String()})
	e.do(t, req{method: "GET", path: "/no/such/" + uuid.NewString()})
	w := e.do(t, req{method: "GET", path: "/metrics"})
	wantStatus(t, w, http.StatusOK)
	for _, want := range []string{
		`api_http_requests_total{method="POST",route="/api/inventory",status="201"} 1`,
		`api_http_requests_total{method="GET",route="/api/inventory/:id",status="200"} 1`,
		`api_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`api_http_request_duration_seconds_bucket{method="GET",route="/api/inventory/:id",le="+Inf"} 1`,
		`api_build_info{`,
		`api_db_queries_total`,
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestRateLimitBudgetByCaller(t *testing.T) {
	var limited []string
	e := newEnv(t, func(d *httpapi.Deps) {
		d.RateLimit = httpapi.RateLimit{
			Limiter: limiterFunc(func(key string) { limited = append(limited, strings.SplitN(key, ":", 2)[0]) }),
			PerIP:   ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute},
			PerKey:  ratelimit.Limit{Rate: 1, Burst: 1, Period: time.Minute},
		}
	})
	e.create(t, pgInput)
	e.do(t, req{method: "GET", path: "/health"})
	e.do(t, req{method: "POST", path: "/api/inventory", body: `{}`, header: map[string]string{"X-API-Key": ""}})
	// The caller with a key by its principal, the anonymous one by address.
	if d := cmp.Diff([]string{"principal", "ip"}, limited); d != "" {
		t.Errorf("budgets drawn from (-want +got):\n%s", d)
	}
}

// limiterFunc is a Limiter that allows everything and tells f each
// budget key.
type limiterFunc func(key string)

func (f limiterFunc) Allow(_ context.Context, key string, _ ratelimit.Limit) (ratelimit.Result, error) {
	f(key)
	return ratelimit.Result{Allowed: true}, nil
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
