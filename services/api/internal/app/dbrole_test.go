package app

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// TestServesAsTheAPIRole: the api serves as the least-privileged role
// `migrate up` grants (DB_API_USER): it starts (making its cursor key in
// api_secrets), reads and writes items, and a write stuck behind a lock
// (a migration's, here the owner's) is cancelled by the role's
// statement_timeout and answered 503 timeout with Retry-After, not left
// hanging.
func TestServesAsTheAPIRole(t *testing.T) {
	owner := pgtest.URL(t)
	base := instance(t, "api-role", pgtest.APIURL(t, owner, 500*time.Millisecond), redistest.URL(t), nil)
	created := createItem(t, base, "as-api-role")
	if a := do(t, call{method: "GET", url: base + "/api/inventory/" + created.ID}); a.status != 200 {
		t.Fatalf("GET the item = %d %s", a.status, a.body)
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE items IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	a := do(t, call{method: "POST", url: base + "/api/inventory", header: keyHeader(),
		body: `{"name":"behind-a-lock","image":"postgres:17"}`})
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if a.status != 503 || a.problemType() != "timeout" || a.header.Get("Retry-After") == "" {
		t.Errorf("POST behind a lock = %d %v %s, want 503 timeout with Retry-After", a.status, a.header, a.body)
	}
	// Once the lock is gone the same write goes through.
	createItem(t, base, "behind-a-lock")
}

// TestUnreadyUntilTheSchemaIsMigrated: an api started before its migrate
// job (a swarm runs them side by side) is alive but not ready, and answers
// 503 with Retry-After rather than 500 for a table that is not there yet;
// once `migrate up` has run it is ready and serves, without a restart.
func TestUnreadyUntilTheSchemaIsMigrated(t *testing.T) {
	dbURL := emptyDatabase(t)
	base := instance(t, "api-no-schema", dbURL, redistest.URL(t), nil)
	if a := do(t, call{method: "GET", url: base + "/health"}); a.status != 200 {
		t.Errorf("/health before migrate = %d %s, want 200 (alive)", a.status, a.body)
	}
	var rep struct {
		Dependencies map[string]struct{ Status string }
	}
	a := do(t, call{method: "GET", url: base + "/ready"})
	a.decode(t, &rep)
	if a.status != 503 || rep.Dependencies["schema"].Status != "down" || rep.Dependencies["postgres"].Status != "up" {
		t.Errorf("/ready before migrate = %d %s, want 503 with postgres up and schema down", a.status, a.body)
	}
	for _, c := range []call{
		{method: "GET", url: base + "/api/inventory"},
		{method: "POST", url: base + "/api/inventory", header: keyHeader(), body: `{"name":"early","image":"postgres:17"}`},
	} {
		if a := do(t, c); a.status != 503 || a.problemType() != "unavailable" || a.header.Get("Retry-After") == "" {
			t.Errorf("%s %s before migrate = %d %s, want 503 unavailable with Retry-After", c.method, c.url, a.status, a.body)
		}
	}

	env := map[string]string{"DATABASE_URL": dbURL}
	if err := Run(context.Background(), []string{"migrate", "up"}, func(k string) string { return env[k] }, io.Discard); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	eventually(t, "ready after migrate up", func() string {
		if a := do(t, call{method: "GET", url: base + "/ready"}); a.status != 200 {
			return fmt.Sprintf("/ready = %d %s", a.status, a.body)
		}
		return ""
	})
	createItem(t, base, "after-migrate")
	if a := do(t, call{method: "GET", url: base + "/api/inventory"}); a.status != 200 {
		t.Errorf("GET /api/inventory after migrate = %d %s", a.status, a.body)
	}
}
