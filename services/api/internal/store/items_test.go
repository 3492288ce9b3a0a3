package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	return store.New(pgtest.New(t))
}

func mustItem(t *testing.T, in inventory.Input) inventory.Item {
	t.Helper()
	it, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	return it
}

func create(t *testing.T, s *store.Store, name, image string, labels ...string) inventory.Item {
	t.Helper()
	it, err := s.CreateItem(context.Background(), mustItem(t, inventory.Input{Name: name, Image: image, Labels: labels}))
	if err != nil {
		t.Fatalf("CreateItem(%s): %v", name, err)
	}
	return it
}

// The enrichment fields are the worker's (internal/enrich tests them).
var ignoreTimes = cmpopts.IgnoreFields(inventory.Item{}, "CreatedAt", "UpdatedAt", "Registry", "GitHub", "Links")

func TestCreateAndGet(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	in := mustItem(t, inventory.Input{
		Name: "postgres", Image: "postgres:17-alpine", Description: "primary database",
		Labels: []string{"db"}, SourceURL: "https://github.com/docker-library/postgres",
		DocsURLs:   []string{"https://hub.docker.com/_/postgres"},
		TagInclude: `^\d+\.\d+-alpine$`, TagExclude: `17\.4-alpine`,
	})
	created, err := s.CreateItem(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID.Version() != 7 || created.Version != 1 || created.CreatedAt.IsZero() {
		t.Errorf("created = %+v, want a UUIDv7 id, version 1 and timestamps", created)
	}
	want := in
	want.ID, want.Version = created.ID, 1
	if d := cmp.Diff(want, created, ignoreTimes); d != "" {
		t.Errorf("CreateItem (-want +got):\n%s", d)
	}
	got, err := s.GetItem(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(created, got); d != "" {
		t.Errorf("GetItem (-created +got):\n%s", d)
	}
	if _, err := s.GetItem(ctx, uuid.New()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetItem(unknown) = %v, want ErrNotFound", err)
	}
}

func TestNamesAreUniqueRegardlessOfCase(t *testing.T) {
	s := newStore(t)
	create(t, s, "postgres", "postgres")
	_, err := s.CreateItem(context.Background(), mustItem(t, inventory.Input{Name: "Postgres", Image: "postgres"}))
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second CreateItem(Postgres) = %v, want ErrConflict", err)
	}
	other := create(t, s, "redis", "redis")
	_, err = s.UpdateItem(context.Background(), other.ID, func(it inventory.Item) (inventory.Item, error) {
		it.Name = "POSTGRES"
		return it, nil
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("renaming onto a taken name = %v, want ErrConflict", err)
	}
}

func TestListPaginatesNewestFirstWithoutGapsOrRepeats(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var want []string
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		create(t, s, n, "busybox")
		want = append([]string{n}, want...)
	}
	var got []string
	cursors, err := inventory.NewCursors([]byte("store-test-cursor-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	q := inventory.ListQuery{Limit: 3, Cursors: cursors}
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than items")
		}
		p, err := s.ListItems(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range p.Items {
			got = append(got, it.Name)
		}
		if p.NextCursor == "" {
			break
		}
		after, err := cursors.Decode(q, p.NextCursor)
		if err != nil {
			t.Fatal(err)
		}
		q.After = &after
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("names over all pages (-want +got):\n%s", d)
	}
}

func TestListFilters(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	create(t, s, "Main Postgres", "postgres:17-alpine", "db", "critical")
	create(t, s, "reports-postgres", "docker.io/library/postgres:15", "db")
	create(t, s, "cache", "redis:7", "cache")
	create(t, s, "100%_sure", "busybox")
	tests := []struct {
		name string
		q    inventory.ListQuery
		want []string
	}{
		{"substring, any case", inventory.ListQuery{Q: "POSTGRES"}, []string{"reports-postgres", "Main Postgres"}},
		{"label", inventory.ListQuery{Label: "critical"}, []string{"Main Postgres"}},
		{"image repository", inventory.ListQuery{ImageRepository: "docker.io/library/postgres"}, []string{"reports-postgres", "Main Postgres"}},
		{"combined", inventory.ListQuery{Q: "main", Label: "db"}, []string{"Main Postgres"}},
		{"LIKE metacharacters match literally", inventory.ListQuery{Q: "%_"}, []string{"100%_sure"}},
		{"underscore is not a wildcard", inventory.ListQuery{Q: "e_s"}, nil},
		{"no match", inventory.ListQuery{Label: "nope"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 10
			p, err := s.ListItems(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range p.Items {
				got = append(got, it.Name)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
		})
	}
}

func TestUpdateBumpsVersionAndHonoursApplyErrors(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	it := create(t, s, "postgres", "postgres")
	updated, err := s.UpdateItem(ctx, it.ID, func(cur inventory.Item) (inventory.Item, error) {
		if cur.Version != 1 {
			t.Errorf("apply saw version %d, want 1", cur.Version)
		}
		cur.Image, cur.ImageNormalized, cur.Labels = "postgres:17", "docker.io/library/postgres:17", []string{"db"}
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.Version != 2 || updated.Image != "postgres:17" || !updated.UpdatedAt.After(updated.CreatedAt) {
		t.Errorf("updated = %+v, want version 2, the new image and a later updated_at", updated)
	}
	p, err := s.ListItems(ctx, inventory.ListQuery{Limit: 5, ImageRepository: "docker.io/library/postgres"})
	if err != nil || len(p.Items) != 1 {
		t.Errorf("image filter after update = %v, %v; want the item", p.Items, err)
	}

	stop := errors.New("precondition failed")
	_, err = s.UpdateItem(ctx, it.ID, func(inventory.Item) (inventory.Item, error) { return inventory.Item{}, stop })
	if !errors.Is(err, stop) {
		t.Fatalf("UpdateItem with a failing apply = %v, want its error", err)
	}
	got, _ := s.GetItem(ctx, it.ID)
	if got.Version != 2 {
		t.Errorf("version after an aborted update = %d, want 2", got.Version)
	}
	_, err = s.UpdateItem(ctx, uuid.New(), func(c inventory.Item) (inventory.Item, error) { return c, nil })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateItem(unknown) = %v, want ErrNotFound", err)
	}
}

func TestConcurrentUpdatesAreSerialised(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	it := create(t, s, "counter", "busybox")
	const n = 8
	errc := make(chan error, n)
	for range n {
		go func() {
			_, err := s.UpdateItem(ctx, it.ID, func(cur inventory.Item) (inventory.Item, error) {
				cur.Labels = append(cur.Labels, "l"+uuid.NewString()[:8])
				return cur, nil
			})
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.GetItem(ctx, it.ID)
	if got.Version != n+1 || len(got.Labels) != n {
		t.Errorf("after %d concurrent appends: version %d, %d labels; want %d and %d (a write was lost)",
			n, got.Version, len(got.Labels), n+1, n)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	it := create(t, s, "postgres", "postgres")
	stop := errors.New("no")
	if _, err := s.DeleteItem(ctx, it.ID, func(inventory.Item) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("DeleteItem with a failing check = %v, want its error", err)
	}
	if _, err := s.GetItem(ctx, it.ID); err != nil {
		t.Fatalf("item gone after a refused delete: %v", err)
	}
	deleted, err := s.DeleteItem(ctx, it.ID, func(inventory.Item) error { return nil })
	if err != nil || deleted.ID != it.ID {
		t.Fatalf("DeleteItem = %v, %v", deleted, err)
	}
	if _, err := s.GetItem(ctx, it.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetItem after delete = %v, want ErrNotFound", err)
	}
	if _, err := s.DeleteItem(ctx, it.ID, func(inventory.Item) error { return nil }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteItem = %v, want ErrNotFound", err)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	pool, err := store.NewPool(context.Background(), "postgres://x@127.0.0.1:1/x?connect_timeout=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = store.New(pool).GetItem(context.Background(), uuid.New())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetItem with no server = %v, want ErrUnavailable", err)
	}
}

func TestWaitForDatabase(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := store.WaitForDatabase(context.Background(), pgtest.URL(t), 10*time.Second, log); err != nil {
		t.Fatalf("WaitForDatabase(up) = %v", err)
	}
	err := store.WaitForDatabase(context.Background(), "postgres://x@127.0.0.1:1/x", 600*time.Millisecond, log)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("WaitForDatabase(nothing listening) = %v, want ErrUnavailable", err)
	}
}
