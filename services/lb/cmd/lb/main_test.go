package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/servetest"
)

// TestRun checks what every service of the stack promises: /health, a
// clean stop, config errors that name the variable, the healthcheck.
func TestRun(t *testing.T) {
	servetest.TestRun(t, run, map[string]string{"PORT": "0", "HTTPS_PORT": "0", "ADMIN_PORT": "0",
		"GRACE_PERIOD": "0s", "API_UPSTREAM": "127.0.0.1:1", "FRONTEND_UPSTREAM": "127.0.0.1:1"})
}

func TestGracefulStopFailsHealthAndFinishesInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	up := strings.TrimPrefix(backend.URL, "http://")
	base, done, cancel := servetest.Start(t, run, map[string]string{"PORT": "0", "HTTPS_PORT": "0", "ADMIN_PORT": "0",
		"GRACE_PERIOD": "30s", "API_UPSTREAM": up, "FRONTEND_UPSTREAM": up, "ACCESS_LOG": "false"})
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-entered
	cancel() // SIGTERM
	// During the grace period /health fails but requests are still served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err != nil {
			t.Fatalf("GET /health during the grace period: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/health still 200 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(base + "/api/other")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request during the grace period: %v %v, want 200", resp, err)
	}
	resp.Body.Close()
	close(release)
	if got := <-slow; got != 200 {
		t.Errorf("in-flight request = %d, want 200", got)
	}
	select {
	case err := <-done:
		t.Fatalf("run returned %v before the grace period ended", err)
	default:
	}
}

func TestCheckPrintsTheConfiguration(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"check"}, func(k string) string {
		return map[string]string{"API_POLICY": "least_requests", "INSTANCE_NAME": "lb"}[k]
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"configuration OK", "prefix /api/", "-> api", "policy least_requests", "SELF-SIGNED"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("lb check output lacks %q:\n%s", want, out.String())
		}
	}
	err = run(context.Background(), []string{"check"}, func(k string) string {
		return map[string]string{"API_POLICY": "random", "INSTANCE_NAME": "lb"}[k]
	}, &out)
	if err == nil || !strings.Contains(err.Error(), "API_POLICY") {
		t.Errorf("lb check with a bad policy = %v, want an error naming API_POLICY", err)
	}
}

func TestRedirectToHTTPSKeepsHealthOnPlainHTTP(t *testing.T) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "own") })
	for _, tt := range []struct {
		port       int
		host, path string
		want       string
	}{
		{443, "example.test", "/items?q=1", "https://example.test/items?q=1"},
		{443, "example.test:80", "/", "https://example.test/"},
		{8443, "example.test:8080", "/a", "https://example.test:8443/a"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", tt.path, nil)
		r.Host = tt.host
		redirect(own, own, tt.port).ServeHTTP(w, r)
		if w.Code != http.StatusPermanentRedirect || w.Header().Get("Location") != tt.want {
			t.Errorf("GET %s%s = %d %q, want 308 %q", tt.host, tt.path, w.Code, w.Header().Get("Location"), tt.want)
		}
	}
	edge := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "edge") })
	for path, want := range map[string]string{
		"/health": "own",
		// A certificate authority checks its HTTP-01 challenge over plain HTTP.
		"/.well-known/acme-challenge/token-1": "edge",
	} {
		w := httptest.NewRecorder()
		redirect(own, edge, 443).ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != 200 || w.Body.String() != want {
			t.Errorf("%s on plain HTTP = %d %q, want 200 from %s, not a redirect", path, w.Code, w.Body.String(), want)
		}
	}
}
