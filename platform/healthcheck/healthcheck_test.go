package healthcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/healthcheck"
)

func TestCheck(t *testing.T) {
	for _, tt := range []struct {
		name   string
		status int
		ok     bool
	}{
		{"healthy", http.StatusOK, true},
		{"unavailable", http.StatusServiceUnavailable, false},
		{"not found", http.StatusNotFound, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
			defer srv.Close()
			err := healthcheck.Check(context.Background(), srv.URL+"/health", time.Second)
			if got := err == nil; got != tt.ok {
				t.Errorf("Check() error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	t.Run("nothing listening", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		if err := healthcheck.Check(context.Background(), url, time.Second); err == nil {
			t.Error("Check() = nil for a closed port")
		}
	})
}

func TestLoopbackURL(t *testing.T) {
	for in, want := range map[string]string{
		":8000":        "http://127.0.0.1:8000/health",
		"0.0.0.0:3000": "http://127.0.0.1:3000/health",
		"[::]:80":      "http://127.0.0.1:80/health",
	} {
		if got := healthcheck.LoopbackURL(in, "/health"); got != want {
			t.Errorf("LoopbackURL(%q) = %q, want %q", in, got, want)
		}
	}
}
