package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-examples/stack/platform/servetest"
)

// TestRun checks what every service of the stack promises: /health, a
// clean stop, config errors that name the variable, the healthcheck.
func TestRun(t *testing.T) {
	servetest.TestRun(t, run, map[string]string{"PORT": "0"})
}

func TestServeUIAndExportAssets(t *testing.T) {
	base, done, cancel := servetest.Start(t, run, map[string]string{"PORT": "0", "API_URL": "http://127.0.0.1:1"})
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
