package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startRun runs the service on a free port and returns its base URL and a
// channel with run's result. The address is read from the "listening" log
// line, as an operator would.
func startRun(t *testing.T, env map[string]string) (string, <-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() { done <- run(ctx, nil, getenv, pw); pw.Close() }()
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + strings.Replace(a, "[::]", "127.0.0.1", 1), done, cancel
	case err := <-done:
		cancel()
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("no listening log line within 60s")
	}
	return "", nil, nil
}

func TestServeHealthAndGracefulStop(t *testing.T) {
	base, done, cancel := startRun(t, map[string]string{"PORT": "0"})
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health = %d, want 200", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
}

func TestBadConfigNamesTheVariable(t *testing.T) {
	err := run(context.Background(), nil, func(k string) string {
		if k == "PORT" {
			return "eighty"
		}
		return ""
	}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("run with PORT=eighty = %v, want an error naming PORT", err)
	}
}

func TestHealthcheckFailsWhenNothingListens(t *testing.T) {
	err := run(context.Background(), []string{"healthcheck"}, func(k string) string {
		if k == "PORT" {
			return "1"
		}
		return ""
	}, io.Discard)
	if err == nil {
		t.Fatal("healthcheck against a closed port = nil, want an error")
	}
}

func TestServeUIAndExportAssets(t *testing.T) {
	base, done, cancel := startRun(t, map[string]string{"PORT": "0", "API_URL": "http://127.0.0.1:1"})
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %q, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v", err)
	}

	// export-assets writes the same document the service serves.
	dir := t.TempDir()
	var out strings.Builder
	if err := run(context.Background(), []string{"export-assets", dir}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	exported, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	if string(exported) != string(served) {
		t.Error("exported index.html differs from the served one")
	}
	if !strings.Contains(out.String(), "first view:") {
		t.Errorf("export-assets printed %q, want the first view's size", out.String())
	}
}
