package cache

import (
	"bytes"
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
	return Get(ctx, s.c, ListKey(itemsCollection, listValues(q)), func(ctx context.Context) (inventory.Page, error) {
		return s.inner.ListItems(ctx, q)
	})
}

// ListItemsJSON is ListItems for an HTTP handler: the page as the body of
// GET /api/inventory, {"items": […], "next_cursor": "…"} with items never
// null and next_cursor absent on the last page. A hit costs no decoding.
// Its entries are kind "page", apart from ListItems' ("list").
func (s *Items) ListItemsJSON(ctx context.Context, q inventory.ListQuery) ([]byte, error) {
	k := ListKey(itemsCollection, listValues(q))
	k.kind = "page"
	return GetJSON(ctx, s.c, k, func(ctx context.Context) (pageBody, error) {
		p, err := s.inner.ListItems(ctx, q)
		if p.Items == nil {
			p.Items = []inventory.Item{}
		}
		return pageBody{Items: p.Items, NextCursor: p.NextCursor}, err
	}, looksLikePage)
}

// looksLikePage is the check of a cached page: what ListItemsJSON stores
// starts and ends so. A full validation (json.Valid) cost a fifth of a
// cached page's CPU time in the api's profile; entries are written by this
// code only, so the check is for foreign or truncated values.
func looksLikePage(b []byte) bool {
	return bytes.HasPrefix(b, []byte(`{"items":[`)) && bytes.HasSuffix(b, []byte("}"))
}

// itemVersion reads the version of an item's JSON from its end, where
// json.Marshal puts it (Version is Item's last field): `…,"version":N}`.
// ok is false for anything else, a foreign or truncated value.
func itemVersion(b []byte) (int64, bool) {
	if !bytes.HasPrefix(b, []byte(`{"id":"`)) || !bytes.HasSuffix(b, []byte("}")) {
		return 0, false
	}
	i := bytes.LastIndex(b, []byte(`,"version":`))
	if i < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b[i+len(`,"version":`):len(b)-1]), 10, 64)
	if err != nil || v < 1 {
		return 0, false
	}
	return v, true
}

// pageBody is the JSON of a list page, as the HTTP layer answers it.
type pageBody struct {
	Items      []inventory.Item `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// GetItemJSON is GetItem for an HTTP handler: the item's JSON (as
// json.Marshal encodes an inventory.Item) and its version, for the ETag.
// A hit costs no decoding: only the version is read, from the end.
func (s *Items) GetItemJSON(ctx context.Context, id uuid.UUID) ([]byte, int64, error) {
	var version int64
	b, err := GetJSON(ctx, s.c, ItemKey(itemsCollection, id.String()), func(ctx context.Context) (inventory.Item, error) {
		return s.inner.GetItem(ctx, id)
	}, func(b []byte) bool {
		v, ok := itemVersion(b)
		version = v
		return ok
	})
	return b, version, err
}

// listValues is the query of a list page, the identity of its entry. It
// names the cursor format, so pages cached with the cursors of an older
// version (whose next_cursor this one refuses) are not served after an
// upgrade.
func listValues(q inventory.ListQuery) url.Values {
	v := url.Values{
		"cursors": {inventory.CursorFormat},
		"limit":   {strconv.Itoa(q.Limit)},
		"q":       {q.Q},
		"label":   {q.Label},
		"image":   {q.ImageRepository},
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
	return v
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
