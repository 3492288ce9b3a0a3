package site

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// fakeStore records the paths that reach it.
func fakeStore(t *testing.T, seen *[]string) *url.URL {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*seen = append(*seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		if r.Header.Get("Cookie") != "" {
			t.Errorf("cookie reached the store: %q", r.Header.Get("Cookie"))
		}
		_, _ = io.WriteString(w, `{"status":"success"}`)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u
}

func TestStoresReachableOnlyOnQueryPaths(t *testing.T) {
	var seen []string
	u := fakeStore(t, &seen)
	h := New(Config{MetricsURL: u, LogsURL: u, TracesURL: u, Links: map[string]string{"metrics": "http://localhost:8428/vmui/"}})
	for _, tc := range []struct {
		method, path string
		want         int
		reaches      string
	}{
		{"GET", "/store/metrics/api/v1/query?query=up", 200, "GET /api/v1/query?query=up"},
		{"GET", "/store/logs/select/logsql/query?query=abc", 200, "GET /select/logsql/query?query=abc"},
		{"GET", "/store/traces/api/traces/4bf92f3577b34da6a3ce929d0e0e4736", 200, "GET /api/traces/4bf92f3577b34da6a3ce929d0e0e4736?"},
		{"GET", "/store/traces/api/services", 200, "GET /api/services?"},
		// Write, delete and admin endpoints of the stores stay out of reach.
		{"GET", "/store/metrics/api/v1/admin/tsdb/delete_series?match[]=up", 404, ""},
		{"GET", "/store/metrics/api/v1/import", 404, ""},
		{"GET", "/store/logs/delete/run_task", 404, ""},
		{"GET", "/store/logs/insert/jsonline", 404, ""},
		{"GET", "/store/traces/api/traces/..%2f..%2fadmin", 404, ""},
		// The mux cleans the path first: to /store/metrics/metrics, refused.
		{"GET", "/store/metrics/api/v1/query/../../../metrics", 307, ""},
		{"GET", "/store/metrics/metrics", 404, ""},
		{"POST", "/store/metrics/api/v1/query", 405, ""},
		{"DELETE", "/store/logs/select/logsql/query", 405, ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest(tc.method, tc.path, nil)
			req.Header.Set("Cookie", "session=secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("got %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if tc.reaches == "" && len(seen) > 0 {
				t.Fatalf("reached the store: %v", seen)
			}
			if tc.reaches != "" && (len(seen) != 1 || seen[0] != tc.reaches) {
				t.Fatalf("store saw %v, want %q", seen, tc.reaches)
			}
		})
	}
}

func TestPageAndLinks(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	h := New(Config{MetricsURL: u, LogsURL: u, TracesURL: u, Links: map[string]string{"metrics": "http://localhost:8428/vmui/"}})
	for path, want := range map[string]string{
		"/":           "docker-examples · observability",
		"/console.js": "store/metrics/api/v1/query",
		"/links.json": `"metrics":"http://localhost:8428/vmui/"`,
		"/health":     "ok",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s: got %d %.80q, want 200 with %q", path, rec.Code, rec.Body.String(), want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	// A store that is down answers 502, not a hang or a 500.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/store/metrics/api/v1/query?query=up", nil))
	if rec.Code != http.StatusBadGateway {
		t.Errorf("store down: got %d, want 502", rec.Code)
	}
}
