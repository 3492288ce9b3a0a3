package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

const itemColumns = `id, name, image, image_normalized, description, labels, source_url, docs_urls,
	tag_include, tag_exclude, created_at, updated_at, version`

func scanItem(row pgx.CollectableRow) (inventory.Item, error) {
	var it inventory.Item
	err := row.Scan(&it.ID, &it.Name, &it.Image, &it.ImageNormalized, &it.Description, &it.Labels,
		&it.SourceURL, &it.DocsURLs, &it.TagInclude, &it.TagExclude, &it.CreatedAt, &it.UpdatedAt, &it.Version)
	return withPending(it), err
}

// selectItems reads items with their enrichment (enrichment.go).
const selectItems = "SELECT " + itemColumns + ", " + enrichmentColumns +
	" FROM items LEFT JOIN item_enrichment ON item_enrichment.item_id = items.id"

// likeEscaper escapes LIKE's metacharacters so q matches literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListItems returns one page of items, newest first, and the cursor of the
// next page when there is one (signed by q.Cursors; none without).
func (s *Store) ListItems(ctx context.Context, q inventory.ListQuery) (inventory.Page, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.After != nil {
		where = append(where, "id < "+arg(*q.After))
	}
	if q.Q != "" {
		where = append(where, "lower(name) LIKE '%' || lower("+arg(likeEscaper.Replace(q.Q))+") || '%'")
	}
	if q.Label != "" {
		where = append(where, "labels @> ARRAY["+arg(q.Label)+"]::text[]")
	}
	if q.ImageRepository != "" {
		where = append(where, "image_repository = "+arg(q.ImageRepository))
	}
	where = append(where, enrichmentFilters(q)...)
	sql := selectItems
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	// One extra row tells whether there is a next page.
	sql += " ORDER BY id DESC LIMIT " + arg(q.Limit+1)

	rows, _ := s.pool.Query(ctx, sql, args...)
	items, err := pgx.CollectRows(rows, scanEnrichedItem)
	if err != nil {
		return inventory.Page{}, translate("list items", err)
	}
	page := inventory.Page{Items: items}
	if len(items) > q.Limit {
		page.Items = items[:q.Limit]
		page.NextCursor = q.NextCursor(page.Items[q.Limit-1].ID)
	}
	return page, nil
}

// GetItem returns the item with id, or ErrNotFound.
func (s *Store) GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error) {
	rows, _ := s.pool.Query(ctx, selectItems+" WHERE id = $1", id)
	it, err := pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
	return it, translate("get item", err)
}

// CreateItem inserts a normalised item (see inventory.Input.Normalize) with
// a new id and returns it as stored. A name that is taken, regardless of
// case, is ErrConflict.
func (s *Store) CreateItem(ctx context.Context, it inventory.Item) (inventory.Item, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return inventory.Item{}, fmt.Errorf("store: create item: %w", err)
	}
	repo, err := inventory.ImageRepository(it.ImageNormalized)
	if err != nil {
		return inventory.Item{}, fmt.Errorf("store: create item: %w", err)
	}
	rows, _ := s.pool.Query(ctx, `INSERT INTO items
		(id, name, image, image_normalized, image_repository, description, labels, source_url, docs_urls,
		 tag_include, tag_exclude)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING `+itemColumns,
		id, it.Name, it.Image, it.ImageNormalized, repo, it.Description, nonNil(it.Labels),
		it.SourceURL, nonNil(it.DocsURLs), it.TagInclude, it.TagExclude)
	created, err := pgx.CollectExactlyOneRow(rows, scanItem)
	return created, translate("create item", err)
}

// UpdateItem replaces the item with id by what apply returns, atomically:
// the row is locked while apply runs, so apply sees the current item and
// no concurrent write slips in between. apply's error aborts the update
// and is returned as is (this is where If-Match is checked). The version
// grows by one. A missing item is ErrNotFound, a taken name ErrConflict.
func (s *Store) UpdateItem(ctx context.Context, id uuid.UUID, apply func(inventory.Item) (inventory.Item, error)) (inventory.Item, error) {
	var updated inventory.Item
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, selectItems+" WHERE id = $1 FOR UPDATE OF items", id)
		cur, err := pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
		if err != nil {
			return translate("update item", err)
		}
		next, err := apply(cur)
		if err != nil {
			return err
		}
		repo, err := inventory.ImageRepository(next.ImageNormalized)
		if err != nil {
			return fmt.Errorf("store: update item: %w", err)
		}
		rows, _ = tx.Query(ctx, `UPDATE items SET
			name = $2, image = $3, image_normalized = $4, image_repository = $5, description = $6,
			labels = $7, source_url = $8, docs_urls = $9, tag_include = $10, tag_exclude = $11,
			updated_at = now(), version = version + 1
			WHERE id = $1
			RETURNING `+itemColumns,
			id, next.Name, next.Image, next.ImageNormalized, repo, next.Description, nonNil(next.Labels),
			next.SourceURL, nonNil(next.DocsURLs), next.TagInclude, next.TagExclude)
		if _, err = pgx.CollectExactlyOneRow(rows, scanItem); err != nil {
			return translate("update item", err)
		}
		// Read back with the enrichment the trigger kept or dropped.
		rows, _ = tx.Query(ctx, selectItems+" WHERE id = $1", id)
		updated, err = pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
		return translate("update item", err)
	})
	if err != nil {
		return inventory.Item{}, translate("update item", err)
	}
	return updated, nil
}

// DeleteItem deletes the item with id if check, called with the locked
// current item, returns nil; check's error is returned as is. It returns
// the deleted item. A missing item is ErrNotFound.
func (s *Store) DeleteItem(ctx context.Context, id uuid.UUID, check func(inventory.Item) error) (inventory.Item, error) {
	var deleted inventory.Item
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, selectItems+" WHERE id = $1 FOR UPDATE OF items", id)
		cur, err := pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
		if err != nil {
			return translate("delete item", err)
		}
		if err := check(cur); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM items WHERE id = $1", id); err != nil {
			return translate("delete item", err)
		}
		deleted = cur
		return nil
	})
	if err != nil {
		return inventory.Item{}, translate("delete item", err)
	}
	return deleted, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
