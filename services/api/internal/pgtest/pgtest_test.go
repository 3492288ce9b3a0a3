package pgtest_test

import (
	"context"
	"os"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestEachTestGetsAFreshMigratedDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := pgtest.New(t), pgtest.New(t)
	if _, err := a.Exec(ctx, `INSERT INTO items (id, name, image, image_normalized, image_repository)
		VALUES (gen_random_uuid(), 'x', 'x', 'docker.io/library/x:latest', 'docker.io/library/x')`); err != nil {
		t.Fatalf("insert into the migrated items table: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second database has %d items, want 0: databases are shared", n)
	}
}
