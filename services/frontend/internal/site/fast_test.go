package site

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/platform/problem"
)

// startFast serves s with its fasthttp server, as the frontend runs, and
// returns the base URL.
func startFast(t *testing.T, s *Site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := s.Server()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Server.Shutdown(); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String()
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestFastMatchesServeHTTP sends the same requests to the net/http handler
// and to the fasthttp server (fast path and adaptor) and wants the same
// status, headers and body from both.
func TestFastMatchesServeHTTP(t *testing.T) {
	s, srv := newSite(t, "")
	fast := srv.URL
	ref := httptest.NewServer(s)
	t.Cleanup(ref.Close)

	paths := []string{
		"/", "/index.html", "/status", "/signin", "/items/42", "/items/a-b_c.d/edit", "/health",
		"/status?tab=1", "/items/", "/items/1/2", "/items/1/edit/x", "/nope", "/assets/missing.js",
		"/./status", "//status", "/assets/../status", "/stat%75s", "/metrics/x", "/api",
	}
	var gzETag string
	for _, f := range ui.Files() {
		if f.Immutable {
			paths = append(paths, f.URLPath)
		}
		if f.URLPath == "/index.html" {
			gzETag = f.Negotiate("gzip").ETag()
		}
	}
	headers := []map[string]string{
		{},
		{"Accept-Encoding": "gzip"},
		{"Accept-Encoding": "gzip, deflate, br, zstd"},
		{"Accept-Encoding": "br;q=0, gzip;q=0"},
		{"Accept-Encoding": "gzip", "If-None-Match": gzETag},
		{"Accept-Encoding": "gzip", "If-None-Match": `W/"x", ` + gzETag},
		{"X-Correlation-ID": "abc-123.x_y"},
		{"X-Correlation-ID": "not valid!"},
	}
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
		for _, p := range paths {
			for _, h := range headers {
				want := exchange(t, method, ref.URL+p, h)
				got := exchange(t, method, fast+p, h)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s %s %v: fasthttp differs from net/http (-net/http +fasthttp):\n%s", method, p, h, diff)
				}
			}
		}
	}
}

// response is what a client sees of an answer, with the values that differ
// by nature (Date, a made correlation id) replaced by their shape.
type response struct {
	Status int
	Header http.Header
	Body   string
}

func exchange(t *testing.T, method, url string, header map[string]string) response {
	t.Helper()
	resp, body := do(t, method, url, header, nil)
	h := resp.Header.Clone()
	h.Del("Date")
	if id := h.Get("X-Correlation-Id"); id != header["X-Correlation-ID"] && hexID.MatchString(id) {
		h.Set("X-Correlation-Id", "<made>")
	}
	b := string(body)
	if strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
		b = regexp.MustCompile(`"correlation_id":"[0-9a-f]{32}"`).ReplaceAllString(b, `"correlation_id":"<made>"`)
	}
	return response{Status: resp.StatusCode, Header: h, Body: b}
}

// TestUnreadableRequestsGetProblems: what the server cannot parse is
// answered with problem+json and the security headers, then the connection
// is closed.
func TestUnreadableRequestsGetProblems(t *testing.T) {
	_, srv := newSite(t, "")
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name, raw string
		status    int
	}{
		{"garbage", "NOT HTTP AT ALL\r\n\r\n", http.StatusBadRequest},
		{"header too large", "GET / HTTP/1.1\r\nHost: x\r\nCookie: " + strings.Repeat("a", 20<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge},
		{"body too large", "POST /api/items HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var p problem.Problem
			if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || p.Status != tc.status || !resp.Close ||
				resp.Header.Get("Content-Type") != "application/problem+json" ||
				resp.Header.Get("Content-Security-Policy") == "" || !hexID.MatchString(resp.Header.Get("X-Correlation-Id")) {
				t.Errorf("got %s close=%v %v %+v", resp.Status, resp.Close, resp.Header, p)
			}
		})
	}
}

// FuzzCleanPath: a target the fast path takes is one net/http's mux would
// route as it is, without a redirect to a cleaned path or unescaping, so
// both paths of the server agree on what it names.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/status?x=1", "//a", "/a/./b", "/a/../b", "/a/..", "/%2e%2e/", "/items/1/edit", "/a/.b", "/a/b/", "/..a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		p, ok := cleanPath([]byte(target))
		if !ok {
			return
		}
		want := path.Clean(string(p))
		if strings.HasSuffix(string(p), "/") && want != "/" {
			want += "/"
		}
		if want != string(p) || strings.ContainsAny(string(p), "%#?") {
			t.Fatalf("cleanPath(%q) = %q, but the mux would route %q", target, p, want)
		}
		for _, c := range []byte(p) {
			if c < 0x21 || c > 0x7e {
				t.Fatalf("cleanPath(%q) = %q takes byte %#x", target, p, c)
			}
		}
	})
}
