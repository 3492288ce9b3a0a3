package site

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/platform/problem"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
	"github.com/docker-examples/stack/services/frontend/internal/web"
)

// ui is built once: building compresses every file at the highest level.
var ui = func() *assets.Set {
	s, err := assets.Build(web.FS())
	if err != nil {
		panic(err)
	}
	return s
}()

// served is a running site: its base URL.
type served struct{ URL string }

// newSite returns the site forwarding to api, served by its own server as
// the frontend runs it.
func newSite(t *testing.T, api string) (*Site, *served) {
	t.Helper()
	if api == "" {
		api = "http://127.0.0.1:1" // nothing listens there
	}
	u, err := url.Parse(api)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{UI: ui, APIURL: u, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	return s, &served{URL: startFast(t, s)}
}

func do(t *testing.T, method, url string, header map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// A transport that does not ask for gzip by itself, so tests see what
	// they ask for.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestRoutes(t *testing.T) {
	_, srv := newSite(t, "")
	const html, problemJSON = "text/html; charset=utf-8", "application/problem+json"
	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string
		wantCache    string
	}{
		{"GET", "/", 200, html, "no-cache"},
		{"HEAD", "/", 200, html, "no-cache"},
		{"GET", "/index.html", 200, html, "no-cache"},
		{"GET", "/items/0193abc", 200, html, "no-cache"},
		{"GET", "/items/new", 200, html, "no-cache"},
		{"GET", "/items/0193abc/edit", 200, html, "no-cache"},
		{"GET", "/status", 200, html, "no-cache"},
		{"GET", "/signin", 200, html, "no-cache"},
		{"GET", "/no/such/page", 404, html, "no-cache"},
		{"GET", "/assets/app.000000000000.js", 404, problemJSON, "no-store"},
		{"GET", "/assets/app.js", 404, problemJSON, "no-store"},
		{"POST", "/status", 405, problemJSON, "no-store"},
		{"DELETE", "/no/such/page", 404, problemJSON, "no-store"},
		{"GET", "/health", 200, "application/json", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, body := do(t, tt.method, srv.URL+tt.path, nil, nil)
			got := []any{resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control")}
			want := []any{tt.wantStatus, tt.wantType, tt.wantCache}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("status, type, cache mismatch (-want +got):\n%s", diff)
			}
			if tt.wantType == problemJSON {
				var p problem.Problem
				if err := json.Unmarshal(body, &p); err != nil || !strings.HasPrefix(p.Type, "https://docker-examples.dev/problems/") || p.CorrelationID == "" {
					t.Errorf("body %s is not a problem with a type and a correlation id", body)
				}
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned a %d byte body", len(body))
			}
			if resp.Header.Get("X-Correlation-ID") == "" {
				t.Error("no X-Correlation-ID on the response")
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, srv := newSite(t, "")
	for _, path := range []string{"/", "/no/such/page", "/assets/missing.js", "/api/inventory"} {
		resp, _ := do(t, "GET", srv.URL+path, nil, nil)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") {
			t.Errorf("GET %s: CSP %q allows more than the page's origin", path, csp)
		}
		for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"} {
			if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
				t.Errorf("GET %s: %s = %q, want exactly %q", path, k, got, want)
			}
		}
	}
}

// The UI must work under its own CSP: no inline script or style, no style
// attribute anywhere.
func TestUIHasNoInlineCode(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|<style|\sstyle=|\son[a-z]+=|javascript:|innerHTML|eval\(|new Function`)
	for _, f := range ui.Files() {
		if m := inline.Find(f.Body()); m != nil {
			t.Errorf("%s contains %q, which the CSP forbids or which bypasses text escaping", f.Source, m)
		}
	}
}

// Every URL the document and its modules refer to is served, fingerprinted,
// immutable, with its content type; so a first visit loads without errors.
func TestDocumentReferencesServedAssets(t *testing.T) {
	_, srv := newSite(t, "")
	_, index := do(t, "GET", srv.URL+"/", nil, nil)
	ref := regexp.MustCompile(`"(/assets/[^"]+)"`)
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	seen := map[string]bool{}
	queue := [][]byte{index}
	for len(queue) > 0 {
		body := queue[0]
		queue = queue[1:]
		for _, m := range ref.FindAllSubmatch(body, -1) {
			p := string(m[1])
			if seen[p] {
				continue
			}
			seen[p] = true
			resp, b := do(t, "GET", srv.URL+p, nil, nil)
			ext := p[strings.LastIndex(p, "."):]
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType[ext] ||
				resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("GET %s = %d %q %q, want 200, %q, immutable", p, resp.StatusCode,
					resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"), wantType[ext])
			}
			if !regexp.MustCompile(`\.[0-9a-f]{12}\.[a-z]+$`).MatchString(p) {
				t.Errorf("%s is not fingerprinted", p)
			}
			queue = append(queue, b)
		}
	}
	if len(seen) < 10 {
		t.Errorf("found %d assets from index.html, want every module of the UI", len(seen))
	}
}

func TestConditionalRequestsAndCompression(t *testing.T) {
	_, srv := newSite(t, "")
	first, plain := do(t, "GET", srv.URL+"/", nil, nil)
	etag := first.Header.Get("ETag")
	if !regexp.MustCompile(`^"[^"]+"$`).MatchString(etag) {
		t.Fatalf("ETag %q is not a strong entity tag", etag)
	}
	resp, body := do(t, "GET", srv.URL+"/status", map[string]string{"If-None-Match": etag}, nil)
	if resp.StatusCode != 304 || len(body) != 0 {
		t.Errorf("revalidation with the current ETag = %d with %d bytes, want 304 and no body", resp.StatusCode, len(body))
	}
	resp, _ = do(t, "GET", srv.URL+"/", map[string]string{"If-None-Match": `"stale"`}, nil)
	if resp.StatusCode != 200 {
		t.Errorf("revalidation with a stale ETag = %d, want 200", resp.StatusCode)
	}
	resp, gz := do(t, "GET", srv.URL+"/", map[string]string{"Accept-Encoding": "gzip"}, nil)
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") == etag {
		t.Fatalf("gzip response: encoding %q, vary %q, etag %q (identity %q)", resp.Header.Get("Content-Encoding"),
			resp.Header.Get("Vary"), resp.Header.Get("ETag"), etag)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unzipped, plain) {
		t.Error("the gzip variant does not decompress to the document")
	}
	if resp.Header.Get("Content-Length") != "" && len(gz) >= len(plain) {
		t.Errorf("gzip variant is %d bytes, the document %d", len(gz), len(plain))
	}
	// A missing page is not cacheable as a 304.
	resp, _ = do(t, "GET", srv.URL+"/nope", map[string]string{"If-None-Match": etag}, nil)
	if resp.StatusCode != 404 {
		t.Errorf("unknown page with a matching ETag = %d, want 404", resp.StatusCode)
	}
}

func TestMetrics(t *testing.T) {
	_, srv := newSite(t, "")
	do(t, "GET", srv.URL+"/", nil, nil)
	do(t, "POST", srv.URL+"/status", nil, nil)
	_, body := do(t, "GET", srv.URL+"/metrics", nil, nil)
	for _, want := range []string{
		`frontend_http_requests_total{code="200",method="GET",route="ui"} 1`,
		`frontend_http_requests_total{code="405",method="POST",route="other"} 1`,
		`frontend_http_request_duration_seconds_count{route="ui"} 1`,
		`frontend_build_info{`,
		`go_goroutines`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// fakeAPI records the last request it got and answers with handler.
type fakeAPI struct {
	*httptest.Server
	last chan *http.Request
}

func newFakeAPI(t *testing.T, h http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{last: make(chan *http.Request, 16)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		f.last <- r
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func TestProxyForwardsRequestsAndAnswers(t *testing.T) {
	api := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Correlation-ID", r.Header.Get("X-Correlation-ID"))
		w.Header().Set("Content-Type", "application/problem+json")
		w.Header().Set("Set-Cookie", "session=abc; HttpOnly; SameSite=Strict")
		w.Header().Set("ETag", `"7"`)
		w.Header().Set("X-Frame-Options", "SAMEORIGIN") // the API's own choice wins
		w.WriteHeader(http.StatusPreconditionFailed)
		_, _ = io.WriteString(w, `{"type":"https://docker-examples.dev/problems/precondition-failed"}`)
	})
	_, srv := newSite(t, api.URL)
	resp, body := do(t, "PUT", srv.URL+"/api/inventory/42?x=1", map[string]string{
		"X-Correlation-ID": "req-123", "If-Match": `"6"`, "X-CSRF-Token": "tok", "Content-Type": "application/json",
		"X-Forwarded-For": "203.0.113.9",
	}, strings.NewReader(`{"name":"pg"}`))
	in := <-api.last

	gotIn := map[string]string{
		"method": in.Method, "uri": in.URL.RequestURI(), "host": in.Host,
		"If-Match": in.Header.Get("If-Match"), "X-CSRF-Token": in.Header.Get("X-CSRF-Token"),
		"X-Correlation-ID": in.Header.Get("X-Correlation-ID"), "X-Forwarded-For": in.Header.Get("X-Forwarded-For"),
		"X-Forwarded-Proto": in.Header.Get("X-Forwarded-Proto"), "X-Forwarded-Host": in.Header.Get("X-Forwarded-Host"),
	}
	b, _ := io.ReadAll(in.Body)
	gotIn["body"] = string(b)
	host := strings.TrimPrefix(srv.URL, "http://")
	wantIn := map[string]string{
		"method": "PUT", "uri": "/api/inventory/42?x=1", "host": host,
		"If-Match": `"6"`, "X-CSRF-Token": "tok", "X-Correlation-ID": "req-123",
		"X-Forwarded-For": "203.0.113.9, 127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": host,
		"body": `{"name":"pg"}`,
	}
	if diff := cmp.Diff(wantIn, gotIn); diff != "" {
		t.Errorf("request the API got (-want +got):\n%s", diff)
	}

	gotOut := map[string][]string{
		"status": {resp.Status}, "X-Correlation-Id": resp.Header.Values("X-Correlation-ID"),
		"Set-Cookie": resp.Header.Values("Set-Cookie"), "Etag": resp.Header.Values("ETag"),
		"X-Frame-Options": resp.Header.Values("X-Frame-Options"), "X-Content-Type-Options": resp.Header.Values("X-Content-Type-Options"),
		"body": {string(body)},
	}
	wantOut := map[string][]string{
		"status": {"412 Precondition Failed"}, "X-Correlation-Id": {"req-123"},
		"Set-Cookie": {"session=abc; HttpOnly; SameSite=Strict"}, "Etag": {`"7"`},
		"X-Frame-Options": {"SAMEORIGIN"}, "X-Content-Type-Options": {"nosniff"},
		"body": {`{"type":"https://docker-examples.dev/problems/precondition-failed"}`},
	}
	if diff := cmp.Diff(wantOut, gotOut); diff != "" {
		t.Errorf("response the browser got (-want +got):\n%s", diff)
	}
}

func TestProxyMakesACorrelationID(t *testing.T) {
	api := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {})
	_, srv := newSite(t, api.URL)
	resp, _ := do(t, "GET", srv.URL+"/api/status", map[string]string{"X-Correlation-ID": "bad id\twith spaces"}, nil)
	in := <-api.last
	id := in.Header.Get("X-Correlation-ID")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) || resp.Header.Get("X-Correlation-ID") != id {
		t.Errorf("API got correlation id %q, browser got %q; want the same fresh id", id, resp.Header.Get("X-Correlation-ID"))
	}
}

// An id the lb passed on is the API's id too, so one request's log lines
// join across lb, frontend and api (the frontend used to replace ids with a
// colon, which the lb accepts).
func TestProxyKeepsTheLBsCorrelationID(t *testing.T) {
	api := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {})
	_, srv := newSite(t, api.URL)
	for _, path := range []string{"/api/status", "/health", "/index.html"} {
		resp, _ := do(t, "GET", srv.URL+path, map[string]string{"X-Correlation-ID": "lb:0a1b2c"}, nil)
		if got := resp.Header.Get("X-Correlation-ID"); got != "lb:0a1b2c" {
			t.Errorf("GET %s: browser got correlation id %q, want lb:0a1b2c", path, got)
		}
	}
	if got := (<-api.last).Header.Get("X-Correlation-ID"); got != "lb:0a1b2c" {
		t.Errorf("API got correlation id %q, want lb:0a1b2c", got)
	}
}

func TestProxyAPIDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	_, srv := newSite(t, down)
	resp, body := do(t, "GET", srv.URL+"/api/inventory", map[string]string{"X-Correlation-ID": "c-1"}, nil)
	var p problem.Problem
	_ = json.Unmarshal(body, &p)
	// 503, as an unreachable upstream is in the lb and the api (it was 502).
	want := problem.Problem{Type: "https://docker-examples.dev/problems/unavailable", Title: "Service unavailable", Status: 503,
		Detail: "The frontend could not reach the API. Try again in a moment.", Instance: "/api/inventory", CorrelationID: "c-1"}
	if diff := cmp.Diff(want, p); diff != "" || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("API down: %s %s (-want +got):\n%s", resp.Status, resp.Header.Get("Content-Type"), diff)
	}
	if resp.Header.Get("Content-Security-Policy") == "" {
		t.Error("the frontend's own error lacks the security headers")
	}
}

// sseAPI serves /api/events: it sends "first", then waits for release (and,
// if wait is set, that long) before sending "second", then holds the stream
// open until the client or the server ends it.
func sseAPI(t *testing.T, release <-chan struct{}, wait time.Duration) *fakeAPI {
	return newFakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		rc := http.NewResponseController(w)
		_, _ = io.WriteString(w, "id: 1-0\nevent: item.created\ndata: {\"id\":\"first\"}\n\n")
		_ = rc.Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "id: 2-0\nevent: item.updated\ndata: {\"id\":\"second\"}\n\n")
		_ = rc.Flush()
		<-r.Context().Done()
	})
}

// readEvent reads one SSE event's data line.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v", err)
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			return strings.TrimSpace(d)
		}
	}
}

// startServed runs the site's server under serve.Run, with its read and
// write timeouts set from opts, and returns its URL and a stop function
// returning Run's result.
func startServed(t *testing.T, s *Site, opts serve.Options) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := serve.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.OnShutdown = s.Shutdown
	done := make(chan error, 1)
	srv := s.Server()
	if opts.ReadTimeout > 0 {
		srv.ReadTimeout = opts.ReadTimeout
	}
	if opts.WriteTimeout > 0 {
		srv.WriteTimeout = opts.WriteTimeout
	}
	go func() { done <- serve.Run(ctx, ln, srv, slog.New(slog.DiscardHandler), opts) }()
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

func TestEventStreamIsUnbufferedAndOutlivesServerTimeouts(t *testing.T) {
	release := make(chan struct{})
	const timeout = 200 * time.Millisecond
	api := sseAPI(t, release, 3*timeout)
	s, _ := newSite(t, api.URL)
	base, _ := startServed(t, s, serve.Options{ReadTimeout: timeout, WriteTimeout: timeout})

	req, _ := http.NewRequest("GET", base+"/api/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "0-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", got)
	}
	if got := (<-api.last).Header.Get("Last-Event-ID"); got != "0-1" {
		t.Errorf("API got Last-Event-ID %q, want 0-1", got)
	}
	br := bufio.NewReader(resp.Body)
	// The first event arrives while the API still holds the stream open:
	// nothing is buffered on the way.
	if got := readEvent(t, br); got != `{"id":"first"}` {
		t.Fatalf("first event data = %s", got)
	}
	close(release)
	// The second comes after the server's read and write timeouts have
	// passed: the stream is exempt from them.
	if got := readEvent(t, br); got != `{"id":"second"}` {
		t.Fatalf("second event data = %s", got)
	}
}

func TestShutdownEndsEventStreams(t *testing.T) {
	api := sseAPI(t, make(chan struct{}), 0)
	s, _ := newSite(t, api.URL)
	// ShutdownTimeout is far longer than the test should take: if the open
	// stream held the shutdown, Serve would return its deadline error.
	base, stop := startServed(t, s, serve.Options{ShutdownTimeout: time.Minute})
	resp, err := http.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	readEvent(t, br)
	if err := stop(); err != nil {
		t.Fatalf("Serve after cancel = %v, want a clean shutdown", err)
	}
	if _, err := io.ReadAll(br); err == nil {
		// Either an error or EOF is fine: the stream ended.
		t.Log("stream ended with EOF")
	}
}
