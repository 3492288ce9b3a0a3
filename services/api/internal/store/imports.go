package store

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// Import actions.
const (
	ImportCreated   = "created"
	ImportUpdated   = "updated"
	ImportUnchanged = "unchanged"
)

// ImportResult is what ApplyImport did (or would do) with one item.
type ImportResult struct {
	Action string
	Item   inventory.Item
}

// errDryRun rolls a dry run back.
var errDryRun = errors.New("dry run")

// ApplyImport creates or updates items by name (regardless of case) in
// one transaction: all of them or none. An existing item keeps its
// description, links and other labels; its image is replaced and the
// import's labels are added. An item that would not change is left
// alone, so importing the same file twice writes nothing. With dryRun
// nothing is written and the results say what would be.
func (s *Store) ApplyImport(ctx context.Context, items []inventory.Item, dryRun bool) ([]ImportResult, error) {
	var out []ImportResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		for _, want := range items {
			rows, _ := tx.Query(ctx, selectItems+" WHERE lower(name) = lower($1) FOR UPDATE OF items", want.Name)
			cur, err := pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				id, err := uuid.NewV7()
				if err != nil {
					return err
				}
				repo, err := inventory.ImageRepository(want.ImageNormalized)
				if err != nil {
					return fmt.Errorf("store: import: %w", err)
				}
				rows, _ := tx.Query(ctx, `INSERT INTO items
					(id, name, image, image_normalized, image_repository, description, labels, source_url, docs_urls)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+itemColumns,
					id, want.Name, want.Image, want.ImageNormalized, repo, want.Description, nonNil(want.Labels),
					want.SourceURL, nonNil(want.DocsURLs))
				created, err := pgx.CollectExactlyOneRow(rows, scanItem)
				if err != nil {
					return translate("import", err)
				}
				out = append(out, ImportResult{Action: ImportCreated, Item: created})
			case err != nil:
				return translate("import", err)
			default:
				labels := slices.Clone(cur.Labels)
				for _, l := range want.Labels {
					if !slices.Contains(labels, l) {
						labels = append(labels, l)
					}
				}
				if cur.ImageNormalized == want.ImageNormalized && len(labels) == len(cur.Labels) {
					out = append(out, ImportResult{Action: ImportUnchanged, Item: cur})
					continue
				}
				if len(labels) > inventory.MaxLabels {
					return &inventory.ValidationError{Errors: []inventory.FieldError{{Field: "labels", Message: fmt.Sprintf("item %q would have more than %d labels", cur.Name, inventory.MaxLabels)}}}
				}
				repo, err := inventory.ImageRepository(want.ImageNormalized)
				if err != nil {
					return fmt.Errorf("store: import: %w", err)
				}
				rows, _ := tx.Query(ctx, `UPDATE items SET image = $2, image_normalized = $3, image_repository = $4,
					labels = $5, updated_at = now(), version = version + 1 WHERE id = $1 RETURNING `+itemColumns,
					cur.ID, want.Image, want.ImageNormalized, repo, labels)
				updated, err := pgx.CollectExactlyOneRow(rows, scanItem)
				if err != nil {
					return translate("import", err)
				}
				out = append(out, ImportResult{Action: ImportUpdated, Item: updated})
			}
		}
		if dryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		return out, nil
	}
	if err != nil {
		return nil, translate("import", err)
	}
	return out, nil
}
