package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/servetest"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	redistest.Stop()
	os.Exit(code)
}

// emptyDatabase returns the URL of a fresh database with nothing in it:
// pgtest hands out migrated ones, so drop the public schema with everything
// the migrations created in it (tables, indexes, extensions, goose's own
// table), whatever migrations exist now or later.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	pool := pgtest.New(t)
	if _, err := pool.Exec(context.Background(), "DROP SCHEMA public CASCADE; CREATE SCHEMA public"); err != nil {
		t.Fatal(err)
	}
	pool.Close()
	return pool.Config().ConnString()
}

func TestMigrateUpStatusDown(t *testing.T) {
	env := map[string]string{"DATABASE_URL": emptyDatabase(t)}
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()
	status := func() string {
		var out bytes.Buffer
		if err := Run(ctx, []string{"migrate", "status"}, getenv, &out); err != nil {
			t.Fatalf("migrate status: %v", err)
		}
		return out.String()
	}
	if s := status(); !strings.Contains(s, "pending") {
		t.Fatalf("status before up:\n%s\nwant pending", s)
	}
	// Replicas starting together: every one succeeds, the lock serialises them.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = Run(ctx, []string{"migrate", "up"}, getenv, io.Discard) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent migrate up %d: %v", i, err)
		}
	}
	if s := status(); !strings.Contains(s, "applied") || strings.Contains(s, "pending") {
		t.Fatalf("status after up:\n%s\nwant all applied", s)
	}
	if err := Run(ctx, []string{"migrate", "down"}, getenv, io.Discard); err != nil {
		t.Fatalf("migrate down: %v", err)
	}
	if s := status(); !strings.Contains(s, "pending") {
		t.Fatalf("status after down:\n%s\nwant pending", s)
	}
	if err := Run(ctx, []string{"migrate", "sideways"}, getenv, io.Discard); err == nil {
		t.Error("migrate sideways succeeded")
	}
}

func TestServeWithDatabaseAndGracefulDrain(t *testing.T) {
	keys := t.TempDir() + "/keys"
	if err := os.WriteFile(keys, []byte("integration-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"PORT": "0", "DATABASE_URL": emptyDatabase(t), "REDIS_URL": redistest.URL(t),
		"API_KEYS_FILE": keys, "AUTO_MIGRATE": "true", "SHUTDOWN_DRAIN": "3s", "INSTANCE_ID": "api-it",
		"ENRICH": "off", // its items name Docker Hub images: nothing leaves the machine
	}
	base, done, cancel := servetest.Start(t, Run, env)
	defer cancel()

	ready := func() int {
		resp, err := http.Get(base + "/ready")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/ready = %d, want 200", code)
	}

	body := `{"name":"postgres","image":"postgres:17-alpine"}`
	r, _ := http.NewRequest("POST", base+"/api/inventory", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-API-Key", "integration-key-0123456789")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID              string `json:"id"`
		ImageNormalized string `json:"image_normalized"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ImageNormalized != "docker.io/library/postgres:17-alpine" {
		t.Fatalf("create = %d %+v", resp.StatusCode, created)
	}

	resp, err = http.Get(base + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		InstanceID   string `json:"instance_id"`
		Dependencies map[string]struct{ Status string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.InstanceID != "api-it" || st.Dependencies["postgres"].Status != "up" || st.Dependencies["redis"].Status != "up" {
		t.Errorf("/api/status = %+v, want both dependencies up", st)
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"api_pgxpool_total_conns", "api_db_queries_total"} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// SIGTERM: /ready fails during the drain while requests are still served.
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for ready() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not turn 503 after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := http.Get(base + "/api/inventory"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("during the drain GET /api/inventory = %v, %v; want 200", resp, err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v, want a clean stop", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}

// A write with an X-API-Key (and an Idempotency-Key, as the swarm lab's
// writer sends) while PostgreSQL and Redis are down cannot have its key
// checked: 503 with Retry-After, as any other request that needs the
// database (it was 500). Nothing needs to run for this: both stores are
// on ports where nothing listens.
func TestAPIKeyWithDatabaseDownIs503(t *testing.T) {
	base, _, _ := servetest.Start(t, Run, map[string]string{
		"PORT": "0", "SHUTDOWN_DRAIN": "0s",
		"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db?sslmode=disable&connect_timeout=1",
		"REDIS_URL":    "redis://127.0.0.1:1/0",
	})
	req, err := http.NewRequest(http.MethodPost, base+"/api/inventory", strings.NewReader(`{"name":"pg","image":"postgres:17"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", "dex_"+strings.Repeat("a", 43))
	req.Header.Set("Idempotency-Key", "retry-me-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), `problems/unavailable`) {
		t.Errorf("POST with a key, PostgreSQL down: %s Retry-After %q %s; want 503 unavailable with Retry-After",
			resp.Status, resp.Header.Get("Retry-After"), body)
	}
}
