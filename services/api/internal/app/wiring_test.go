package app

// Tests of the whole service as main wires it: real PostgreSQL and Redis,
// real HTTP, one or two instances started with run on port 0. They show
// issue 4 end to end: sessions and CSRF, 401/403, rate limits, idempotency,
// live events, and what two replicas sharing one Redis and one PostgreSQL
// see of each other, with Redis cut off in the middle.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/platform/servetest"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

const (
	wireKey      = "wiring-key-0123456789abcdef"
	wirePassword = "correct horse battery staple"
)

// instance runs the api on a free port with a database and a Redis shared
// by whoever passes the same URLs, and stops it when t ends.
func instance(t *testing.T, id, dbURL, redisURL string, extra map[string]string) string {
	t.Helper()
	keys := t.TempDir() + "/keys"
	if err := os.WriteFile(keys, []byte(wireKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PORT": "0", "DATABASE_URL": dbURL, "REDIS_URL": redisURL, "INSTANCE_ID": id,
		"API_KEYS_FILE": keys, "ADMIN_PASSWORD": wirePassword, "SHUTDOWN_DRAIN": "0s",
		// The items these tests create name Docker Hub images; the
		// enrichment worker stays off so nothing leaves the machine
		// (enrichment_test.go turns it on against local servers).
		"ENRICH": "off",
	}
	for k, v := range extra {
		env[k] = v
	}
	base, done, cancel := servetest.Start(t, Run, env)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("instance %s stopped with %v", id, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("instance %s did not stop", id)
		}
	})
	return base
}

// call is one request; body is JSON text.
type call struct {
	method, url, body string
	header            map[string]string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("decode %s: %v", a.body, err)
	}
}

// problemType is the slug of a problem+json body, or "".
func (a answer) problemType() string {
	var p struct{ Type string }
	_ = json.Unmarshal(a.body, &p)
	return strings.TrimPrefix(p.Type, "https://docker-examples.dev/problems/")
}

func do(t *testing.T, c call) answer {
	t.Helper()
	r, err := http.NewRequest(c.method, c.url, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

func keyHeader() map[string]string { return map[string]string{"X-API-Key": wireKey} }

type item struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     int    `json:"version"`
}

func createItem(t *testing.T, base, name string) item {
	t.Helper()
	a := do(t, call{method: "POST", url: base + "/api/inventory", header: keyHeader(),
		body: fmt.Sprintf(`{"name":%q,"image":"redis:7"}`, name)})
	if a.status != http.StatusCreated {
		t.Fatalf("create %s = %d %s", name, a.status, a.body)
	}
	var it item
	a.decode(t, &it)
	return it
}

// sse is an open GET /api/events stream.
type sse struct {
	events chan sseEvent
	cancel context.CancelFunc
}

type sseEvent struct {
	id, typ, data string
}

// openEvents opens base's event stream and waits for its first message
// (the id it starts from), so events published afterwards are seen.
func openEvents(t *testing.T, base string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		cancel()
		t.Fatalf("GET /api/events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sse{events: make(chan sseEvent, 100), cancel: cancel}
	go readSSE(resp.Body, s.events)
	t.Cleanup(cancel)
	s.next(t, func(e sseEvent) bool { return e.id != "" && e.typ == "" })
	return s
}

// readSSE parses a stream into events until it ends, then closes ch.
func readSSE(body io.ReadCloser, ch chan<- sseEvent) {
	defer body.Close()
	defer close(ch)
	sc := bufio.NewScanner(body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.id != "" || ev.typ != "" {
				ch <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// next returns the first event that satisfies match, failing the test if
// none comes before a generous deadline.
func (s *sse) next(t *testing.T, match func(sseEvent) bool) sseEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-s.events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if match(e) {
				return e
			}
		case <-deadline:
			t.Fatal("no matching event within 10s")
		}
	}
}

func eventFor(typ, id string) func(sseEvent) bool {
	return func(e sseEvent) bool { return e.typ == typ && strings.Contains(e.data, `"id":"`+id+`"`) }
}

// eventually polls f until it returns "" or the deadline passes, then
// fails with f's last complaint.
func eventually(t *testing.T, what string, f func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionsCSRFAndAuthErrors(t *testing.T) {
	base := instance(t, "api-s", pgtest.URL(t), redistest.URL(t), map[string]string{
		"CORS_ORIGINS": "https://ui.example.com", "TRUSTED_PROXIES": "127.0.0.1/32",
	})
	login := func(password string, header map[string]string) answer {
		return do(t, call{method: "POST", url: base + "/api/auth/login", header: header,
			body: fmt.Sprintf(`{"username":"admin","password":%q}`, password)})
	}
	post := func(header map[string]string) answer {
		return do(t, call{method: "POST", url: base + "/api/inventory", header: header,
			body: `{"name":"n` + strconv.FormatInt(time.Now().UnixNano(), 36) + `","image":"nginx"}`})
	}

	var st struct {
		Authenticated bool   `json:"authenticated"`
		Username      string `json:"username"`
		CSRFToken     string `json:"csrf_token"`
	}
	do(t, call{method: "GET", url: base + "/api/auth/session"}).decode(t, &st)
	if st.Authenticated {
		t.Fatal("a fresh client is authenticated")
	}

	for _, tt := range []struct {
		name   string
		a      answer
		status int
		slug   string
	}{
		{"wrong password", login("nope", nil), 401, "unauthorized"},
		{"login not JSON", do(t, call{method: "POST", url: base + "/api/auth/login", body: `{"username":`}), 400, "malformed-json"},
		{"login unknown field", do(t, call{method: "POST", url: base + "/api/auth/login", body: `{"user":"admin"}`}), 422, "validation"},
		{"write without credentials", post(nil), 401, "unauthorized"},
		{"write with an unknown key", post(map[string]string{"X-API-Key": "wrong-key-0123456789abc"}), 401, "unauthorized"},
	} {
		if tt.a.status != tt.status || tt.a.problemType() != tt.slug {
			t.Errorf("%s = %d %s, want %d %s", tt.name, tt.a.status, tt.a.body, tt.status, tt.slug)
		}
	}

	ok := login(wirePassword, nil)
	if ok.status != 200 {
		t.Fatalf("login = %d %s", ok.status, ok.body)
	}
	var li struct {
		Username  string `json:"username"`
		CSRFToken string `json:"csrf_token"`
	}
	ok.decode(t, &li)
	sc := ok.header.Get("Set-Cookie")
	for _, want := range []string{"dex_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain http", sc)
	}
	cookie := strings.SplitN(sc, ";", 2)[0]

	// Cookie writes need the CSRF token: 403 without (known caller), 201 with.
	if a := post(map[string]string{"Cookie": cookie}); a.status != 403 || a.problemType() != "forbidden" {
		t.Errorf("cookie write without X-CSRF-Token = %d %s, want 403 forbidden", a.status, a.body)
	}
	if a := post(map[string]string{"Cookie": cookie, "X-CSRF-Token": "not-" + li.CSRFToken}); a.status != 403 {
		t.Errorf("cookie write with a wrong X-CSRF-Token = %d, want 403", a.status)
	}
	if a := post(map[string]string{"Cookie": cookie, "X-CSRF-Token": li.CSRFToken}); a.status != 201 {
		t.Errorf("cookie write with X-CSRF-Token = %d %s, want 201", a.status, a.body)
	}
	do(t, call{method: "GET", url: base + "/api/auth/session", header: map[string]string{"Cookie": cookie}}).decode(t, &st)
	if !st.Authenticated || st.Username != "admin" || st.CSRFToken != li.CSRFToken {
		t.Errorf("session = %+v, want admin with the login's CSRF token", st)
	}

	// A new login gets a new session id and ends the one it replaced.
	again := login(wirePassword, map[string]string{"Cookie": cookie})
	cookie2 := strings.SplitN(again.header.Get("Set-Cookie"), ";", 2)[0]
	if again.status != 200 || cookie2 == cookie {
		t.Errorf("second login = %d, cookie %q: want 200 and a new session id", again.status, cookie2)
	}
	if a := post(map[string]string{"Cookie": cookie, "X-CSRF-Token": li.CSRFToken}); a.status != 401 {
		t.Errorf("write with the replaced session = %d, want 401", a.status)
	}

	// Logout ends the session everywhere.
	if a := do(t, call{method: "POST", url: base + "/api/auth/logout", header: map[string]string{"Cookie": cookie2}}); a.status != 204 ||
		!strings.Contains(a.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout = %d, Set-Cookie %q: want 204 and the cookie cleared", a.status, a.header.Get("Set-Cookie"))
	}
	var li2 struct {
		CSRFToken string `json:"csrf_token"`
	}
	again.decode(t, &li2)
	if a := post(map[string]string{"Cookie": cookie2, "X-CSRF-Token": li2.CSRFToken}); a.status != 401 {
		t.Errorf("write after logout = %d, want 401", a.status)
	}

	// Behind a trusted proxy that says https, the cookie is Secure and __Host-.
	https := login(wirePassword, map[string]string{"X-Forwarded-Proto": "https"})
	if sc := https.header.Get("Set-Cookie"); !strings.HasPrefix(sc, "__Host-dex_session=") || !strings.Contains(sc, "Secure") {
		t.Errorf("login over https: Set-Cookie %q, want __Host- and Secure", sc)
	}

	// A CORS preflight needs no credentials, whatever the route.
	pre := do(t, call{method: "OPTIONS", url: base + "/api/inventory", header: map[string]string{
		"Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "content-type, x-csrf-token, idempotency-key"}})
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://ui.example.com" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "X-CSRF-Token") {
		t.Errorf("preflight = %d %v, want 204 with CORS headers", pre.status, pre.header)
	}
}

func TestRateLimits(t *testing.T) {
	base := instance(t, "api-rl", pgtest.URL(t), redistest.URL(t), map[string]string{
		"RATE_LIMIT": "3/m", "RATE_LIMIT_KEY": "5/m", "RATE_LIMIT_LOGIN": "off",
	})
	get := func(header map[string]string) answer {
		return do(t, call{method: "GET", url: base + "/api/inventory", header: header})
	}
	for i := range 3 {
		a := get(nil)
		if a.status != 200 || a.header.Get("RateLimit-Limit") != "3" || a.header.Get("RateLimit-Remaining") != strconv.Itoa(2-i) {
			t.Fatalf("anonymous request %d = %d, RateLimit-Limit %q Remaining %q", i+1, a.status,
				a.header.Get("RateLimit-Limit"), a.header.Get("RateLimit-Remaining"))
		}
	}
	// X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
	a := get(map[string]string{"X-Forwarded-For": "198.51.100.9"})
	if a.status != 429 || a.problemType() != "rate-limited" || a.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("4th anonymous request = %d %s, want 429 rate-limited", a.status, a.body)
	}
	if ra, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || ra < 1 || ra > 20 {
		t.Errorf("Retry-After = %q, want 1-20 seconds (one request per 20s)", a.header.Get("Retry-After"))
	}
	for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"} {
		if a.header.Get(h) == "" {
			t.Errorf("429 lacks %s", h)
		}
	}
	if got := a.header.Get("RateLimit-Policy"); got != "3;w=60" {
		t.Errorf("RateLimit-Policy = %q, want 3;w=60", got)
	}
	// An API key has its own, larger budget.
	if a := get(keyHeader()); a.status != 200 || a.header.Get("RateLimit-Limit") != "5" {
		t.Errorf("request with a key = %d, RateLimit-Limit %q; want 200 and 5", a.status, a.header.Get("RateLimit-Limit"))
	}
	// Operations endpoints are never limited.
	if a := do(t, call{method: "GET", url: base + "/health"}); a.status != 200 {
		t.Errorf("/health while limited = %d", a.status)
	}
}

func TestLoginHasItsOwnLimit(t *testing.T) {
	base := instance(t, "api-login", pgtest.URL(t), redistest.URL(t), map[string]string{
		"RATE_LIMIT": "off", "RATE_LIMIT_LOGIN": "2/m",
	})
	var got []int
	for range 3 {
		got = append(got, do(t, call{method: "POST", url: base + "/api/auth/login", body: `{"username":"admin","password":"guess"}`}).status)
	}
	if d := cmp.Diff([]int{401, 401, 429}, got); d != "" {
		t.Errorf("login attempts (-want +got):\n%s", d)
	}
	// Other routes are not affected.
	if a := do(t, call{method: "GET", url: base + "/api/inventory"}); a.status != 200 {
		t.Errorf("GET /api/inventory = %d", a.status)
	}
}

func TestIdempotencyKey(t *testing.T) {
	base := instance(t, "api-idem", pgtest.URL(t), redistest.URL(t), nil)
	post := func(key, body string, header map[string]string) answer {
		h := map[string]string{"Idempotency-Key": key}
		for k, v := range header {
			h[k] = v
		}
		return do(t, call{method: "POST", url: base + "/api/inventory", header: h, body: body})
	}
	body := `{"name":"idem","image":"postgres:17"}`
	first := post("k-1", body, keyHeader())
	second := post("k-1", body, keyHeader())
	if first.status != 201 || second.status != 201 || string(first.body) != string(second.body) {
		t.Fatalf("first = %d %s, retry = %d %s: want the same 201", first.status, first.body, second.status, second.body)
	}
	if second.header.Get("Idempotent-Replayed") != "true" || second.header.Get("Location") != first.header.Get("Location") ||
		second.header.Get("ETag") != first.header.Get("ETag") {
		t.Errorf("replay headers %v, want Idempotent-Replayed and the first Location and ETag", second.header)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Error("the first response says it is replayed")
	}
	if a := post("k-1", `{"name":"other","image":"postgres:17"}`, keyHeader()); a.status != 422 || a.problemType() != "idempotency-mismatch" {
		t.Errorf("same key, other body = %d %s, want 422 idempotency-mismatch", a.status, a.body)
	}
	if a := post(`"bad key with spaces`, body, keyHeader()); a.status != 400 {
		t.Errorf("malformed key = %d %s, want 400", a.status, a.body)
	}
	// Keys are per caller: a signed-in admin's k-1 is a different request.
	li := do(t, call{method: "POST", url: base + "/api/auth/login", body: `{"username":"admin","password":"` + wirePassword + `"}`})
	var s struct {
		CSRFToken string `json:"csrf_token"`
	}
	li.decode(t, &s)
	cookie := strings.SplitN(li.header.Get("Set-Cookie"), ";", 2)[0]
	if a := post("k-1", `{"name":"idem2","image":"postgres:17"}`, map[string]string{"Cookie": cookie, "X-CSRF-Token": s.CSRFToken}); a.status != 201 ||
		a.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("another caller's k-1 = %d %v, want a fresh 201", a.status, a.header)
	}
	var list struct{ Items []item }
	do(t, call{method: "GET", url: base + "/api/inventory"}).decode(t, &list)
	if len(list.Items) != 2 {
		t.Errorf("%d items, want 2: the replay must not create one", len(list.Items))
	}
}

func TestEventAfterWrite(t *testing.T) {
	base := instance(t, "api-ev", pgtest.URL(t), redistest.URL(t), nil)
	s := openEvents(t, base)
	it := createItem(t, base, "evented")
	e := s.next(t, eventFor("item.created", it.ID))
	var data struct {
		ID         string `json:"id"`
		Item       *item  `json:"item"`
		InstanceID string `json:"instance_id"`
	}
	if err := json.Unmarshal([]byte(e.data), &data); err != nil {
		t.Fatal(err)
	}
	if data.Item == nil || data.Item.Name != "evented" || data.InstanceID != "api-ev" || e.id == "" {
		t.Errorf("event = %+v %+v, want the item, the instance and an id", e, data)
	}
	del := do(t, call{method: "DELETE", url: base + "/api/inventory/" + it.ID, header: keyHeader()})
	if del.status != 204 {
		t.Fatalf("delete = %d", del.status)
	}
	if e := s.next(t, eventFor("item.deleted", it.ID)); strings.Contains(e.data, `"item"`) {
		t.Errorf("delete event carries an item: %s", e.data)
	}
}

// TestTwoInstances runs two replicas on one PostgreSQL and one Redis.
func TestTwoInstances(t *testing.T) {
	db, rds := pgtest.URL(t), redistest.URL(t)
	a := instance(t, "api-a", db, rds, map[string]string{"RATE_LIMIT": "off", "RATE_LIMIT_KEY": "off"})
	b := instance(t, "api-b", db, rds, map[string]string{"RATE_LIMIT": "off", "RATE_LIMIT_KEY": "off"})

	t.Run("status lists both replicas", func(t *testing.T) {
		eventually(t, "replicas on A", func() string {
			var st struct {
				Replicas []struct {
					InstanceID string `json:"instance_id"`
				} `json:"replicas"`
			}
			do(t, call{method: "GET", url: a + "/api/status"}).decode(t, &st)
			var ids []string
			for _, r := range st.Replicas {
				ids = append(ids, r.InstanceID)
			}
			if d := cmp.Diff([]string{"api-a", "api-b"}, ids); d != "" {
				return "replicas (-want +got):\n" + d
			}
			return ""
		})
	})

	t.Run("a write on A is never followed by a stale read on B", func(t *testing.T) {
		it := createItem(t, a, "shared")
		url := "/api/inventory/" + it.ID
		listURL := "/api/inventory?q=shared"
		for range 2 { // the second read is a cache hit on B
			do(t, call{method: "GET", url: b + url})
			do(t, call{method: "GET", url: b + listURL})
		}
		for i := range 5 {
			desc := fmt.Sprintf("edit %d", i)
			p := do(t, call{method: "PATCH", url: a + url, body: fmt.Sprintf(`{"description":%q}`, desc),
				header: map[string]string{"X-API-Key": wireKey, "Content-Type": "application/merge-patch+json"}})
			if p.status != 200 {
				t.Fatalf("PATCH on A = %d %s", p.status, p.body)
			}
			var got item
			do(t, call{method: "GET", url: b + url}).decode(t, &got)
			var list struct{ Items []item }
			do(t, call{method: "GET", url: b + listURL}).decode(t, &list)
			if got.Description != desc || got.Version != i+2 || len(list.Items) != 1 || list.Items[0].Description != desc {
				t.Fatalf("after PATCH %d on A, B reads %+v and list %+v: stale", i, got, list.Items)
			}
		}
		if d := do(t, call{method: "DELETE", url: a + url, header: keyHeader()}); d.status != 204 {
			t.Fatalf("DELETE on A = %d", d.status)
		}
		if g := do(t, call{method: "GET", url: b + url}); g.status != 404 {
			t.Errorf("GET on B after DELETE on A = %d, want 404", g.status)
		}
	})

	t.Run("a write on A reaches B's event stream", func(t *testing.T) {
		s := openEvents(t, b)
		start := time.Now()
		it := createItem(t, a, "live")
		e := s.next(t, eventFor("item.created", it.ID))
		t.Logf("create on A answered and seen on B's stream %v after the request", time.Since(start))
		if !strings.Contains(e.data, `"instance_id":"api-a"`) {
			t.Errorf("event on B = %s, want it stamped api-a", e.data)
		}
		// Last-Event-ID resumes exactly after an event, on the other replica.
		it2 := createItem(t, b, "live-2")
		s.next(t, eventFor("item.created", it2.ID))
		r := openEventsFrom(t, a, e.id)
		r.next(t, eventFor("item.created", it2.ID))
	})

	t.Run("an idempotent retry on B replays A's response", func(t *testing.T) {
		h := map[string]string{"X-API-Key": wireKey, "Idempotency-Key": "two-replicas"}
		body := `{"name":"once","image":"alpine:3"}`
		first := do(t, call{method: "POST", url: a + "/api/inventory", header: h, body: body})
		retry := do(t, call{method: "POST", url: b + "/api/inventory", header: h, body: body})
		if first.status != 201 || retry.status != 201 || string(first.body) != string(retry.body) ||
			retry.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("A = %d %s; retry on B = %d %s %v", first.status, first.body, retry.status, retry.body, retry.header)
		}
		if m := do(t, call{method: "POST", url: b + "/api/inventory", header: h, body: `{"name":"twice","image":"alpine:3"}`}); m.status != 422 {
			t.Errorf("other body on B = %d, want 422", m.status)
		}
	})
}

// openEventsFrom opens base's stream resuming after id.
func openEventsFrom(t *testing.T, base, id string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/events", nil)
	r.Header.Set("Last-Event-ID", id)
	resp, err := http.DefaultClient.Do(r)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/events with Last-Event-ID = %v %v", resp, err)
	}
	s := &sse{events: make(chan sseEvent, 100), cancel: cancel}
	go readSSE(resp.Body, s.events)
	return s
}

func TestTwoInstancesShareTheRateLimit(t *testing.T) {
	db, rds := pgtest.URL(t), redistest.URL(t)
	extra := map[string]string{"RATE_LIMIT": "4/m"}
	a := instance(t, "api-a", db, rds, extra)
	b := instance(t, "api-b", db, rds, extra)
	var got []int
	for _, base := range []string{a, b, a, b, a, b} {
		got = append(got, do(t, call{method: "GET", url: base + "/api/inventory"}).status)
	}
	if d := cmp.Diff([]int{200, 200, 200, 200, 429, 429}, got); d != "" {
		t.Errorf("alternating replicas (-want +got):\n%s", d)
	}
}

// TestRedisOutage cuts Redis off under two running replicas and brings it
// back: reads bypass the cache, writes still work and are never read
// stale, the limiter fails open, /ready says degraded, and open event
// streams carry on once Redis returns.
func TestRedisOutage(t *testing.T) {
	db := pgtest.URL(t)
	fr := faultredis.New(t)
	extra := map[string]string{"RATE_LIMIT": "3/m"}
	a := instance(t, "api-a", db, fr.URL(), extra)
	b := instance(t, "api-b", db, fr.URL(), extra)

	it := createItem(t, a, "outage")
	url := "/api/inventory/" + it.ID
	do(t, call{method: "GET", url: b + url}) // cached on B
	s := openEvents(t, b)

	fr.Stop()

	var ready struct{ Status string }
	r := do(t, call{method: "GET", url: a + "/ready"})
	r.decode(t, &ready)
	if r.status != 200 || ready.Status != "degraded" {
		t.Errorf("/ready with Redis down = %d %s, want 200 degraded", r.status, r.body)
	}
	// Writes work; B never serves the old description.
	p := do(t, call{method: "PATCH", url: a + url, body: `{"description":"during the outage"}`,
		header: map[string]string{"X-API-Key": wireKey, "Content-Type": "application/merge-patch+json"}})
	if p.status != 200 {
		t.Fatalf("PATCH with Redis down = %d %s", p.status, p.body)
	}
	var got item
	do(t, call{method: "GET", url: b + url}).decode(t, &got)
	if got.Description != "during the outage" {
		t.Errorf("B with Redis down reads %q: stale", got.Description)
	}
	// The limiter fails open: more anonymous requests than the limit pass,
	// without RateLimit headers (nothing is known).
	for i := range 5 {
		g := do(t, call{method: "GET", url: a + "/api/inventory"})
		if g.status != 200 || g.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("anonymous request %d with Redis down = %d, RateLimit-Limit %q; want 200 and no header",
				i+1, g.status, g.header.Get("RateLimit-Limit"))
		}
	}
	// A key that guarantees once-only cannot be honoured: 503, not a duplicate.
	if g := do(t, call{method: "POST", url: a + "/api/inventory", body: `{"name":"x","image":"x"}`,
		header: map[string]string{"X-API-Key": wireKey, "Idempotency-Key": "k"}}); g.status != 503 {
		t.Errorf("POST with Idempotency-Key and Redis down = %d, want 503", g.status)
	}

	fr.Start()

	eventually(t, "/ready after Redis returns", func() string {
		r := do(t, call{method: "GET", url: a + "/ready"})
		r.decode(t, &ready)
		if ready.Status != "ok" {
			return "status " + ready.Status
		}
		return ""
	})
	// The stream opened before the outage carries events again.
	after := createItem(t, a, "after-outage")
	s.next(t, eventFor("item.created", after.ID))
	// And the cache is back in use without serving what it held before.
	do(t, call{method: "GET", url: b + url}).decode(t, &got)
	if got.Description != "during the outage" {
		t.Errorf("B after the outage reads %q: stale", got.Description)
	}
	// The limiter counts again.
	eventually(t, "rate limit after Redis returns", func() string {
		g := do(t, call{method: "GET", url: a + "/api/inventory"})
		if g.header.Get("RateLimit-Limit") != "3" {
			return "no RateLimit-Limit: 3"
		}
		return ""
	})
}

func TestServeStartsWithRedisDown(t *testing.T) {
	fr := faultredis.New(t)
	fr.Stop()
	base := instance(t, "api-nored", pgtest.URL(t), fr.URL(), nil)
	var ready struct{ Status string }
	r := do(t, call{method: "GET", url: base + "/ready"})
	r.decode(t, &ready)
	if r.status != 200 || ready.Status != "degraded" {
		t.Errorf("/ready = %d %s, want 200 degraded", r.status, r.body)
	}
	it := createItem(t, base, "no-redis")
	if g := do(t, call{method: "GET", url: base + "/api/inventory/" + it.ID}); g.status != 200 {
		t.Errorf("GET = %d", g.status)
	}
	fr.Start()
	eventually(t, "/ready once Redis is up", func() string {
		do(t, call{method: "GET", url: base + "/ready"}).decode(t, &ready)
		if ready.Status != "ok" {
			return ready.Status
		}
		return ""
	})
}

func TestKeysCommandAndDatabaseKeys(t *testing.T) {
	db := pgtest.URL(t)
	getenv := func(k string) string { return map[string]string{"DATABASE_URL": db}[k] }
	var out strings.Builder
	if err := Run(context.Background(), []string{"keys", "create", "ci"}, getenv, &out); err != nil {
		t.Fatalf("keys create: %v", err)
	}
	secret := strings.SplitN(out.String(), "\n", 2)[0]
	base := instance(t, "api-keys", db, redistest.URL(t), nil)
	post := func(name string) int {
		return do(t, call{method: "POST", url: base + "/api/inventory", header: map[string]string{"X-API-Key": secret},
			body: fmt.Sprintf(`{"name":%q,"image":"busybox"}`, name)}).status
	}
	if got := post("with-db-key"); got != 201 {
		t.Fatalf("write with a created key = %d, want 201", got)
	}
	out.Reset()
	if err := Run(context.Background(), []string{"keys", "list"}, getenv, &out); err != nil || !strings.Contains(out.String(), "ci") ||
		strings.Contains(out.String(), secret) {
		t.Fatalf("keys list = %v:\n%s\nwant the key's name and never its secret", err, out.String())
	}
	var id string
	for _, f := range strings.Fields(out.String()) {
		if len(f) == 36 && strings.Count(f, "-") == 4 {
			id = f
		}
	}
	if err := Run(context.Background(), []string{"keys", "revoke", id}, getenv, io.Discard); err != nil {
		t.Fatalf("keys revoke %q: %v", id, err)
	}
	if got := post("after-revoke"); got != 401 {
		t.Errorf("write with a revoked key = %d, want 401", got)
	}
	if err := Run(context.Background(), []string{"keys", "frobnicate"}, getenv, io.Discard); err == nil {
		t.Error("keys frobnicate succeeded")
	}
}

func TestReadsCanRequireAuth(t *testing.T) {
	base := instance(t, "api-private", pgtest.URL(t), redistest.URL(t), map[string]string{"READS_REQUIRE_AUTH": "true"})
	for _, tt := range []struct {
		path   string
		header map[string]string
		want   int
	}{
		{"/api/inventory", nil, 401},
		{"/api/inventory", keyHeader(), 200},
		{"/api/events", nil, 401},
		{"/api/status", nil, 200},
		{"/api/auth/session", nil, 200},
	} {
		if a := do(t, call{method: "GET", url: base + tt.path, header: tt.header}); a.status != tt.want {
			t.Errorf("GET %s with %v = %d, want %d", tt.path, tt.header, a.status, tt.want)
		}
	}
}
