package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// memStore is an in-memory ItemStore with the store's contract: newest
// first, case-insensitive unique names, versions, sentinel errors.
type memStore struct {
	mu    sync.Mutex
	items map[uuid.UUID]inventory.Item
	// err, when set, is returned by every call (a database outage).
	err error
	// panicOn makes GetItem panic for this id (a bug).
	panicOn uuid.UUID
}

func newMemStore() *memStore { return &memStore{items: map[uuid.UUID]inventory.Item{}} }

func (m *memStore) ListItems(_ context.Context, q inventory.ListQuery) (inventory.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return inventory.Page{}, m.err
	}
	var all []inventory.Item
	for _, it := range m.items {
		repo, _ := inventory.ImageRepository(it.ImageNormalized)
		switch {
		case q.After != nil && bytes.Compare(it.ID[:], q.After[:]) >= 0:
		case q.Q != "" && !strings.Contains(strings.ToLower(it.Name), strings.ToLower(q.Q)):
		case q.Label != "" && !slices.Contains(it.Labels, q.Label):
		case q.ImageRepository != "" && repo != q.ImageRepository:
		default:
			all = append(all, it)
		}
	}
	slices.SortFunc(all, func(a, b inventory.Item) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	p := inventory.Page{Items: all}
	if len(all) > q.Limit {
		p.Items = all[:q.Limit]
		p.NextCursor = q.NextCursor(p.Items[q.Limit-1].ID)
	}
	return p, nil
}

func (m *memStore) GetItem(_ context.Context, id uuid.UUID) (inventory.Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id == m.panicOn {
		panic("boom")
	}
	if m.err != nil {
		return inventory.Item{}, m.err
	}
	it, ok := m.items[id]
	if !ok {
		return inventory.Item{}, store.ErrNotFound
	}
	return it, nil
}

func (m *memStore) nameTaken(name string, except uuid.UUID) bool {
	for _, it := range m.items {
		if it.ID != except && strings.EqualFold(it.Name, name) {
			return true
		}
	}
	return false
}

func (m *memStore) CreateItem(_ context.Context, it inventory.Item) (inventory.Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return inventory.Item{}, m.err
	}
	if m.nameTaken(it.Name, uuid.Nil) {
		return inventory.Item{}, store.ErrConflict
	}
	it.ID = uuid.Must(uuid.NewV7())
	it.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	it.UpdatedAt, it.Version = it.CreatedAt, 1
	m.items[it.ID] = it
	return it, nil
}

func (m *memStore) UpdateItem(_ context.Context, id uuid.UUID, apply func(inventory.Item) (inventory.Item, error)) (inventory.Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return inventory.Item{}, m.err
	}
	cur, ok := m.items[id]
	if !ok {
		return inventory.Item{}, store.ErrNotFound
	}
	next, err := apply(cur)
	if err != nil {
		return inventory.Item{}, err
	}
	if m.nameTaken(next.Name, id) {
		return inventory.Item{}, store.ErrConflict
	}
	next.ID, next.CreatedAt, next.Version = id, cur.CreatedAt, cur.Version+1
	next.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	m.items[id] = next
	return next, nil
}

func (m *memStore) DeleteItem(_ context.Context, id uuid.UUID, check func(inventory.Item) error) (inventory.Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return inventory.Item{}, m.err
	}
	cur, ok := m.items[id]
	if !ok {
		return inventory.Item{}, store.ErrNotFound
	}
	if err := check(cur); err != nil {
		return inventory.Item{}, err
	}
	delete(m.items, id)
	return cur, nil
}

// recorder is a Publisher that remembers events; fail makes it fail.
type recorder struct {
	mu     sync.Mutex
	events []inventory.Event
	fail   bool
}

func (r *recorder) Publish(_ context.Context, e inventory.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("redis is down")
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, string(e.Type))
	}
	return out
}
