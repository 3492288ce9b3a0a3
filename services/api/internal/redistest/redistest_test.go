package redistest_test

import (
	"context"
	"os"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	ctx := context.Background()
	a, b := redistest.New(t), redistest.New(t)
	if err := a.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("key set through a is visible through b (exists=%d, err=%v)", n, err)
	}
	if a.Options().DB == b.Options().DB {
		t.Fatalf("both clients use database %d", a.Options().DB)
	}
}
