package cache_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// countingStore counts the reads that reach PostgreSQL.
type countingStore struct {
	*store.Store
	reads atomic.Int64
}

func (s *countingStore) ListItems(ctx context.Context, q inventory.ListQuery) (inventory.Page, error) {
	s.reads.Add(1)
	return s.Store.ListItems(ctx, q)
}

func (s *countingStore) GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error) {
	s.reads.Add(1)
	return s.Store.GetItem(ctx, id)
}

func newItem(t *testing.T, name string) inventory.Item {
	t.Helper()
	it, err := inventory.Input{Name: name, Image: "postgres:17", Labels: []string{"db"}}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// sharedBackends are what the replicas of a test share: one Redis and one
// fresh PostgreSQL database, whose reads db counts.
type sharedBackends struct {
	redis *faultredis.Redis
	db    *countingStore
}

func newSharedBackends(t *testing.T) sharedBackends {
	t.Helper()
	r := faultredis.New(t)
	return sharedBackends{redis: r, db: &countingStore{Store: store.New(pgtest.New(t))}}
}

// items is one more replica's item cache on the shared backends.
func (s sharedBackends) items(t *testing.T) *cache.Items {
	t.Helper()
	return cache.NewItems(s.db, newReplica(t, s.redis).c)
}

func createItem(t *testing.T, items *cache.Items, name string) inventory.Item {
	t.Helper()
	created, err := items.CreateItem(context.Background(), newItem(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// describeItem sets the item's description through items.
func describeItem(t *testing.T, items *cache.Items, id uuid.UUID, description string) inventory.Item {
	t.Helper()
	updated, err := items.UpdateItem(context.Background(), id, func(it inventory.Item) (inventory.Item, error) {
		it.Description = description
		return it, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return updated
}

// Two replicas, each with its cache, on one PostgreSQL and one Redis.
func TestItemsAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	shared := newSharedBackends(t)
	replica1, replica2 := shared.items(t), shared.items(t)

	created := createItem(t, replica1, "postgres")
	q := inventory.ListQuery{Limit: 10, Label: "db"}
	for range 3 {
		if _, err := replica2.GetItem(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := replica2.ListItems(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if got := shared.db.reads.Load(); got != 2 {
		t.Errorf("database reads for 3 gets and 3 lists = %d, want 2", got)
	}
	got, err := replica2.GetItem(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(created, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("cached item differs from the created one (-created +cached):\n%s", diff)
	}

	// A write on replica 1 is seen at once by replica 2's item and list.
	updated := describeItem(t, replica1, created.ID, "primary database")
	if got, _ := replica2.GetItem(ctx, created.ID); got.Version != updated.Version || got.Description != "primary database" {
		t.Errorf("replica 2 after the update = version %d %q, want version %d", got.Version, got.Description, updated.Version)
	}
	if page, _ := replica2.ListItems(ctx, q); len(page.Items) != 1 || page.Items[0].Version != updated.Version {
		t.Errorf("replica 2's list after the update = %+v", page.Items)
	}

	if _, err := replica1.DeleteItem(ctx, created.ID, func(inventory.Item) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := replica2.GetItem(ctx, created.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("replica 2 GetItem after delete: %v, want ErrNotFound", err)
	}
	if page, _ := replica2.ListItems(ctx, q); len(page.Items) != 0 {
		t.Errorf("replica 2's list after delete = %+v, want empty", page.Items)
	}
}

func TestItemsWithRedisDown(t *testing.T) {
	ctx := context.Background()
	shared := newSharedBackends(t)
	items := shared.items(t)
	created := createItem(t, items, "redis")
	shared.redis.Stop()
	if got, err := items.GetItem(ctx, created.ID); err != nil || got.ID != created.ID {
		t.Fatalf("GetItem with Redis down = %v, %v; want the item from PostgreSQL", got.ID, err)
	}
	// A write with Redis down succeeds; the cache is bypassed, so the
	// writer reads its own write.
	if _, err := items.UpdateItem(ctx, created.ID, func(it inventory.Item) (inventory.Item, error) {
		it.Description = "changed while redis was down"
		return it, nil
	}); err != nil {
		t.Fatalf("UpdateItem with Redis down: %v", err)
	}
	if got, _ := items.GetItem(ctx, created.ID); got.Description != "changed while redis was down" {
		t.Errorf("read after the write = %q", got.Description)
	}
}

// The JSON reads answer what the typed reads encode, byte for byte, stay
// fresh across replicas, and treat a corrupt entry as a miss.
func TestItemsJSONMatchTypedReads(t *testing.T) {
	ctx := context.Background()
	shared := newSharedBackends(t)
	replica1, replica2 := shared.items(t), shared.items(t)

	created := createItem(t, replica1, "postgres")
	for i := range 2 { // a miss, then a hit
		b, version, err := replica2.GetItemJSON(ctx, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(created)
		if string(b) != string(want) || version != created.Version {
			t.Errorf("read %d: GetItemJSON = %s, version %d; want %s, version %d", i, b, version, want, created.Version)
		}
	}
	q := inventory.ListQuery{Limit: 10}
	for i := range 2 {
		b, err := replica2.ListItemsJSON(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(map[string]any{"items": []inventory.Item{created}})
		if string(b) != string(want) {
			t.Errorf("read %d: ListItemsJSON = %s, want %s", i, b, want)
		}
	}
	if b, _ := replica2.ListItemsJSON(ctx, inventory.ListQuery{Limit: 10, Label: "none"}); string(b) != `{"items":[]}` {
		t.Errorf("an empty page = %s, want {\"items\":[]}", b)
	}

	updated := describeItem(t, replica1, created.ID, "primary database")
	if _, version, _ := replica2.GetItemJSON(ctx, created.ID); version != updated.Version {
		t.Errorf("replica 2 after the update: version %d, want %d", version, updated.Version)
	}
	if b, _ := replica2.ListItemsJSON(ctx, q); !strings.Contains(string(b), "primary database") {
		t.Errorf("replica 2's page after the update = %s", b)
	}

	// Garbage under every key of the collection: each read reloads.
	keys, err := shared.redis.Direct().Keys(ctx, "cache:items:*:*").Result()
	if err != nil || len(keys) == 0 {
		t.Fatalf("cache keys: %v %v", keys, err)
	}
	for _, k := range keys {
		shared.redis.Direct().Set(ctx, k, "{not json", time.Minute)
	}
	if _, version, err := replica2.GetItemJSON(ctx, created.ID); err != nil || version != updated.Version {
		t.Errorf("GetItemJSON over a corrupt entry: version %d, %v; want %d", version, err, updated.Version)
	}
	if b, err := replica2.ListItemsJSON(ctx, q); err != nil || !json.Valid(b) {
		t.Errorf("ListItemsJSON over a corrupt entry: %s, %v", b, err)
	}
}

func TestItemVersionReadsTheEnd(t *testing.T) {
	it := inventory.Item{Name: "x", Version: 42, Labels: []string{`"version":7}`}}
	b, _ := json.Marshal(it)
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{string(b), 42, true},
		{string(b[:len(b)-1]), 0, false},          // truncated
		{`{"id":"x","version":0}`, 0, false},      // no such version
		{`{"id":"x","version":"1"}`, 0, false},    // not a number
		{`["not an item","version":3}`, 0, false}, // foreign
		{`{"id":"x","name":"a,\"version\":9}`, 0, false},
	} {
		got, ok := cache.ItemVersion([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("itemVersion(%s) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
