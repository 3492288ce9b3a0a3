// Package e2e_test exercises a running API over HTTP, as a client would.
// It runs only when E2E_API_URL (e.g. http://127.0.0.1:8000) and
// E2E_API_KEY (the key in deploy/secrets/api_key.txt) are set; the session
// test also needs E2E_ADMIN_PASSWORD.
package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

type client struct {
	t    *testing.T
	base string
	key  string
	http *http.Client
}

func newClient(t *testing.T) *client {
	base, key := os.Getenv("E2E_API_URL"), os.Getenv("E2E_API_KEY")
	if base == "" || key == "" {
		t.Skip("set E2E_API_URL and E2E_API_KEY to run against a running API")
	}
	return &client{t: t, base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Timeout: 10 * time.Second}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path, contentType, body string, header map[string]string) response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	if method != http.MethodGet {
		r.Header.Set("X-API-Key", c.key)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := c.http.Do(r)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, r.body)
	}
}

type item struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	ImageNormalized string   `json:"image_normalized"`
	Description     string   `json:"description"`
	Labels          []string `json:"labels"`
	Version         int      `json:"version"`
}

func TestInventoryOverHTTP(t *testing.T) {
	c := newClient(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "e2e-" + hex.EncodeToString(b)

	// Create.
	r := c.do("POST", "/api/inventory", "application/json",
		`{"name":"`+name+`","image":"postgres:17-alpine","labels":["e2e"]}`, nil).want(t, http.StatusCreated)
	var created item
	r.json(t, &created)
	loc := r.header.Get("Location")
	if created.ImageNormalized != "docker.io/library/postgres:17-alpine" || loc != "/api/inventory/"+created.ID {
		t.Fatalf("created %+v at %q", created, loc)
	}
	etag := r.header.Get("ETag")
	t.Cleanup(func() { c.do("DELETE", loc, "", "", nil) })

	// Read, and a conditional read.
	r = c.do("GET", loc, "", "", nil).want(t, http.StatusOK)
	if r.header.Get("ETag") != etag {
		t.Errorf("GET ETag %q, create ETag %q", r.header.Get("ETag"), etag)
	}
	c.do("GET", loc, "", "", map[string]string{"If-None-Match": etag}).want(t, http.StatusNotModified)

	// List with filters finds it.
	var list struct{ Items []item }
	c.do("GET", "/api/inventory?limit=100&label=e2e&image=postgres&q="+name, "", "", nil).want(t, http.StatusOK).json(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != created.ID {
		t.Errorf("filtered list = %+v, want just the new item", list.Items)
	}

	// Patch with If-Match.
	r = c.do("PATCH", loc, "application/merge-patch+json", `{"description":"from e2e"}`,
		map[string]string{"If-Match": etag}).want(t, http.StatusOK)
	var patched item
	r.json(t, &patched)
	if patched.Description != "from e2e" || patched.Version != created.Version+1 {
		t.Errorf("patched = %+v", patched)
	}

	// A stale ETag cannot overwrite.
	r = c.do("PATCH", loc, "application/merge-patch+json", `{"description":"lost update"}`,
		map[string]string{"If-Match": etag}).want(t, http.StatusPreconditionFailed)
	wantProblem(t, r, "precondition-failed")

	// Duplicate names conflict.
	wantProblem(t, c.do("POST", "/api/inventory", "application/json",
		`{"name":"`+strings.ToUpper(name)+`","image":"redis"}`, nil).want(t, http.StatusConflict), "conflict")

	// Bad input is a 4xx problem.
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", `{"name":`, nil).want(t, http.StatusBadRequest), "malformed-json")
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", `{"name":"x","image":"NOT VALID"}`, nil).
		want(t, http.StatusUnprocessableEntity), "validation")
	wantProblem(t, c.do("GET", "/api/inventory/not-an-id", "", "", nil).want(t, http.StatusUnprocessableEntity), "validation")
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", `{"name":"x","image":"x"}`,
		map[string]string{"X-API-Key": "wrong-key-0123456789"}).want(t, http.StatusUnauthorized), "unauthorized")
	big := `{"name":"x","image":"x","description":"` + strings.Repeat("x", 1<<20) + `"}`
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", big, nil).want(t, http.StatusRequestEntityTooLarge), "payload-too-large")

	// Delete with the current ETag.
	c.do("DELETE", loc, "", "", map[string]string{"If-Match": `"v1"`}).want(t, http.StatusPreconditionFailed)
	c.do("DELETE", loc, "", "", map[string]string{"If-Match": r2etag(t, c, loc)}).want(t, http.StatusNoContent)
	wantProblem(t, c.do("GET", loc, "", "", nil).want(t, http.StatusNotFound), "not-found")
}

func TestOperationsEndpoints(t *testing.T) {
	c := newClient(t)
	// Through the load balancer, /health is the lb's own and /ready is not
	// routed: the lb keeps the api's operational endpoints to itself.
	if os.Getenv("E2E_LB_URL") == "" {
		c.do("GET", "/health", "", "", nil).want(t, http.StatusOK)
		var ready struct{ Status string }
		c.do("GET", "/ready", "", "", nil).want(t, http.StatusOK).json(t, &ready)
		if ready.Status != "ok" && ready.Status != "degraded" {
			t.Errorf("/ready status %q", ready.Status)
		}
		// The garbage collector as platform/command sets it in a
		// container: GOGC 400, and a soft memory limit taken from the
		// container's (none would read as 2^63-1).
		m := c.do("GET", "/metrics", "", "", nil).want(t, http.StatusOK)
		if !bytes.Contains(m.body, []byte("\ngo_gc_gogc_percent 400\n")) {
			t.Errorf("/metrics: go_gc_gogc_percent is not 400")
		}
		if limit := metricValue(m.body, "go_gc_gomemlimit_bytes"); limit <= 0 || limit > 1<<40 {
			t.Errorf("/metrics: go_gc_gomemlimit_bytes = %g, want the container's limit", limit)
		}
	}
	var st struct {
		Version    string `json:"version"`
		InstanceID string `json:"instance_id"`
	}
	r := c.do("GET", "/api/status", "", "", nil).want(t, http.StatusOK)
	r.json(t, &st)
	if st.Version == "" || st.InstanceID == "" {
		t.Errorf("/api/status = %s", r.body)
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "X-Correlation-ID"} {
		if r.header.Get(h) == "" {
			t.Errorf("/api/status has no %s", h)
		}
	}
	r = c.do("GET", "/openapi.json", "", "", nil).want(t, http.StatusOK)
	if !bytes.Contains(r.body, []byte(`"openapi": "3.1`)) {
		t.Errorf("/openapi.json is not OpenAPI 3.1")
	}
	c.do("GET", "/docs", "", "", nil).want(t, http.StatusOK)
}

// metricValue is the value of an unlabelled series in a Prometheus text
// exposition, or -1 when it is not there.
func metricValue(exposition []byte, name string) float64 {
	for line := range strings.SplitSeq(string(exposition), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

func r2etag(t *testing.T, c *client, loc string) string {
	t.Helper()
	return c.do("GET", loc, "", "", nil).want(t, http.StatusOK).header.Get("ETag")
}

func wantProblem(t *testing.T, r response, slug string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", ct)
	}
	var p struct {
		Type          string `json:"type"`
		CorrelationID string `json:"correlation_id"`
	}
	r.json(t, &p)
	if p.Type != "https://docker-examples.dev/problems/"+slug || p.CorrelationID == "" {
		t.Errorf("problem = %s, want type %s with a correlation id", r.body, slug)
	}
}

// TestRedisFeaturesOverHTTP checks what Redis brings, as a client sees it:
// rate-limit headers, idempotent retries, live events and the replica list.
func TestRedisFeaturesOverHTTP(t *testing.T) {
	c := newClient(t)
	r := c.do("GET", "/api/inventory?limit=1", "", "", nil).want(t, http.StatusOK)
	if r.header.Get("RateLimit-Limit") == "" || r.header.Get("RateLimit-Policy") == "" {
		t.Errorf("no RateLimit-* headers (is Redis down?): %v", r.header)
	}
	var st struct {
		Replicas []struct {
			InstanceID string `json:"instance_id"`
		} `json:"replicas"`
	}
	c.do("GET", "/api/status", "", "", nil).want(t, http.StatusOK).json(t, &st)
	if len(st.Replicas) == 0 {
		t.Error("/api/status lists no live replica")
	}

	// Open the event stream and wait for its first message.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/events = %v, %v", resp, err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for l := range lines {
		if strings.HasPrefix(l, "id: ") {
			break
		}
	}

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "e2e-idem-" + hex.EncodeToString(b)
	body := `{"name":"` + name + `","image":"redis:7"}`
	h := map[string]string{"Idempotency-Key": name}
	first := c.do("POST", "/api/inventory", "application/json", body, h).want(t, http.StatusCreated)
	retry := c.do("POST", "/api/inventory", "application/json", body, h).want(t, http.StatusCreated)
	var it item
	first.json(t, &it)
	t.Cleanup(func() { c.do("DELETE", "/api/inventory/"+it.ID, "", "", nil) })
	if !bytes.Equal(first.body, retry.body) || retry.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry = %s %v, want the first response replayed", retry.body, retry.header)
	}
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", `{"name":"other","image":"x"}`, h).
		want(t, http.StatusUnprocessableEntity), "idempotency-mismatch")

	for l := range lines {
		if strings.HasPrefix(l, "data: ") && strings.Contains(l, `"id":"`+it.ID+`"`) {
			return
		}
	}
	t.Errorf("the event stream ended without the created item %s", it.ID)
}

// TestSessionOverHTTP signs in as the admin, writes with the session
// (CSRF token required) and signs out.
func TestSessionOverHTTP(t *testing.T) {
	c := newClient(t)
	password := os.Getenv("E2E_ADMIN_PASSWORD")
	if password == "" {
		t.Skip("set E2E_ADMIN_PASSWORD to test browser sessions")
	}
	creds, _ := json.Marshal(map[string]string{"username": "admin", "password": password})
	noKey := map[string]string{"X-API-Key": ""}
	wantProblem(t, c.do("POST", "/api/auth/login", "application/json", `{"username":"admin","password":"wrong"}`, noKey).
		want(t, http.StatusUnauthorized), "unauthorized")
	r := c.do("POST", "/api/auth/login", "application/json", string(creds), noKey).want(t, http.StatusOK)
	var s struct {
		CSRFToken string `json:"csrf_token"`
	}
	r.json(t, &s)
	cookie := strings.SplitN(r.header.Get("Set-Cookie"), ";", 2)[0]

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	body := `{"name":"e2e-session-` + hex.EncodeToString(b) + `","image":"nginx"}`
	withCookie := map[string]string{"X-API-Key": "", "Cookie": cookie}
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", body, withCookie).want(t, http.StatusForbidden), "forbidden")
	withCookie["X-CSRF-Token"] = s.CSRFToken
	var it item
	c.do("POST", "/api/inventory", "application/json", body, withCookie).want(t, http.StatusCreated).json(t, &it)
	c.do("DELETE", "/api/inventory/"+it.ID, "", "", withCookie).want(t, http.StatusNoContent)
	c.do("POST", "/api/auth/logout", "", "", withCookie).want(t, http.StatusNoContent)
	wantProblem(t, c.do("POST", "/api/inventory", "application/json", body, withCookie).want(t, http.StatusUnauthorized), "unauthorized")
}
