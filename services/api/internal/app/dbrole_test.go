package app

import (
	"context"
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
