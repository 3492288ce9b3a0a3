package cache

import (
	"context"
	"net/url"
	"strconv"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// ItemStore is the item persistence the cache wraps (*store.Store); it is
// the same interface the HTTP layer consumes, so Items drops in between.
type ItemStore interface {
	ListItems(ctx context.Context, q inventory.ListQuery) (inventory.Page, error)
	GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error)
	CreateItem(ctx context.Context, it inventory.Item) (inventory.Item, error)
	UpdateItem(ctx context.Context, id uuid.UUID, apply func(inventory.Item) (inventory.Item, error)) (inventory.Item, error)
	DeleteItem(ctx context.Context, id uuid.UUID, check func(inventory.Item) error) (inventory.Item, error)
}

// itemsCollection names the items in cache keys.
const itemsCollection = "items"

// Items is an ItemStore that reads through the cache and invalidates it
// after every successful write, before returning, so the caller answers
// only once no replica can serve the old data from Redis. It is safe for
// concurrent use.
type Items struct {
	inner ItemStore
	c     *Cache
}

// NewItems wraps inner with c.
func NewItems(inner ItemStore, c *Cache) *Items {
	return &Items{inner: inner, c: c}
}

// ListItems returns a page from the cache, or from inner on a miss.
func (s *Items) ListItems(ctx context.Context, q inventory.ListQuery) (inventory.Page, error) {
	v := url.Values{
		"limit": {strconv.Itoa(q.Limit)},
		"q":     {q.Q},
		"label": {q.Label},
		"image": {q.ImageRepository},
	}
	if q.After != nil {
		v.Set("after", q.After.String())
	}
	if q.UpdateAvailable {
		v.Set("update", "available")
	}
	if q.Archived != nil {
		v.Set("archived", strconv.FormatBool(*q.Archived))
	}
	if q.LinksBroken {
		v.Set("links", "broken")
	}
	return Get(ctx, s.c, ListKey(itemsCollection, v), func(ctx context.Context) (inventory.Page, error) {
		return s.inner.ListItems(ctx, q)
	})
}

// GetItem returns an item from the cache, or from inner on a miss. Errors
// (not found included) are never cached.
func (s *Items) GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error) {
	return Get(ctx, s.c, ItemKey(itemsCollection, id.String()), func(ctx context.Context) (inventory.Item, error) {
		return s.inner.GetItem(ctx, id)
	})
}

// CreateItem creates through inner, then invalidates.
func (s *Items) CreateItem(ctx context.Context, it inventory.Item) (inventory.Item, error) {
	out, err := s.inner.CreateItem(ctx, it)
	if err == nil {
		s.invalidate(ctx)
	}
	return out, err
}

// UpdateItem updates through inner, then invalidates.
func (s *Items) UpdateItem(ctx context.Context, id uuid.UUID, apply func(inventory.Item) (inventory.Item, error)) (inventory.Item, error) {
	out, err := s.inner.UpdateItem(ctx, id, apply)
	if err == nil {
		s.invalidate(ctx)
	}
	return out, err
}

// DeleteItem deletes through inner, then invalidates.
func (s *Items) DeleteItem(ctx context.Context, id uuid.UUID, check func(inventory.Item) error) (inventory.Item, error) {
	out, err := s.inner.DeleteItem(ctx, id, check)
	if err == nil {
		s.invalidate(ctx)
	}
	return out, err
}

// Invalidate drops every cached item and list: the enrichment worker
// calls it after storing new facts. It never fails: see invalidate.
func (s *Items) Invalidate(ctx context.Context) { s.invalidate(ctx) }

// invalidate never fails the write: Invalidate logged the failure and
// retries it, and this replica bypasses the cache meanwhile.
func (s *Items) invalidate(ctx context.Context) {
	_ = s.c.Invalidate(context.WithoutCancel(ctx), itemsCollection)
}
