package store_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// Replicas starting together on an empty table all get one secret, and
// it stays the same for a replica that starts later.
func TestSharedSecretIsTheSameForEveryReplica(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	st := store.New(pool)
	const replicas = 8
	got := make([][]byte, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			v, err := store.New(pool).SharedSecret(ctx, "cursor_key", 32)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	later, err := st.SharedSecret(ctx, "cursor_key", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(later) != 32 {
		t.Fatalf("secret has %d bytes, want 32", len(later))
	}
	for i, v := range got {
		if !bytes.Equal(v, later) {
			t.Errorf("replica %d got %x, a later one %x", i, v, later)
		}
	}
	other, err := st.SharedSecret(ctx, "another", 32)
	if err != nil || bytes.Equal(other, later) {
		t.Errorf("another secret = %x, %v: want its own value", other, err)
	}
}
