package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// enrichmentColumns are read from item_enrichment (LEFT JOINed: NULL
// until the first check is stored).
const enrichmentColumns = `item_enrichment.registry, item_enrichment.github, item_enrichment.links`

func scanEnrichedItem(row pgx.CollectableRow) (inventory.Item, error) {
	var it inventory.Item
	var reg, gh, links []byte
	err := row.Scan(&it.ID, &it.Name, &it.Image, &it.ImageNormalized, &it.Description, &it.Labels,
		&it.SourceURL, &it.DocsURLs, &it.TagInclude, &it.TagExclude, &it.CreatedAt, &it.UpdatedAt, &it.Version,
		&reg, &gh, &links)
	if err != nil {
		return it, err
	}
	if reg != nil {
		it.Registry = new(inventory.RegistryFacts)
		if err := json.Unmarshal(reg, it.Registry); err != nil {
			return it, fmt.Errorf("registry facts: %w", err)
		}
	}
	if gh != nil {
		it.GitHub = new(inventory.GitHubFacts)
		if err := json.Unmarshal(gh, it.GitHub); err != nil {
			return it, fmt.Errorf("github facts: %w", err)
		}
	}
	if links != nil {
		if err := json.Unmarshal(links, &it.Links); err != nil {
			return it, fmt.Errorf("link results: %w", err)
		}
	}
	return withPending(it), nil
}

// withPending marks the sources not checked yet as pending: every item
// has registry facts to learn, and GitHub facts when its source is on
// github.com.
func withPending(it inventory.Item) inventory.Item {
	if it.Registry == nil {
		it.Registry = &inventory.RegistryFacts{State: inventory.StatePending}
	}
	if it.GitHub == nil && inventory.IsGitHubURL(it.SourceURL) {
		it.GitHub = &inventory.GitHubFacts{State: inventory.StatePending}
	}
	return it
}

func enrichmentFilters(q inventory.ListQuery) []string {
	var w []string
	if q.UpdateAvailable {
		w = append(w, "item_enrichment.update_available")
	}
	if q.Archived != nil {
		if *q.Archived {
			w = append(w, "item_enrichment.archived")
		} else {
			w = append(w, "item_enrichment.archived IS NOT TRUE")
		}
	}
	if q.LinksBroken {
		w = append(w, "item_enrichment.links_broken")
	}
	return w
}

// Job is one claimed enrichment job.
type Job struct {
	ItemID     uuid.UUID
	Generation int64
	Attempts   int
	Reason     string
}

// ClaimJobs leases up to n due jobs to worker for lease. Jobs another
// replica holds are skipped (SKIP LOCKED) while their lease runs; an
// expired lease (a replica that died) makes the job claimable again.
func (s *Store) ClaimJobs(ctx context.Context, worker string, n int, lease time.Duration) ([]Job, error) {
	rows, _ := s.pool.Query(ctx, `UPDATE enrich_jobs j
		SET locked_by = $1, locked_until = now() + $2::interval, attempts = j.attempts + 1
		FROM (SELECT item_id FROM enrich_jobs
		      WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())
		      ORDER BY run_at LIMIT $3 FOR UPDATE SKIP LOCKED) due
		WHERE j.item_id = due.item_id
		RETURNING j.item_id, j.generation, j.attempts, j.reason`,
		worker, lease.String(), n)
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		return j, r.Scan(&j.ItemID, &j.Generation, &j.Attempts, &j.Reason)
	})
	return jobs, translate("claim jobs", err)
}

// CountDueJobs is the number of jobs that are due and that no replica
// holds: the enrichment backlog.
func (s *Store) CountDueJobs(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM enrich_jobs
		WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())`).Scan(&n)
	return n, translate("count due jobs", err)
}

// EnrichTarget is an item with what its previous check stored.
type EnrichTarget struct {
	Item        inventory.Item
	GitHubState json.RawMessage // nil before the first GitHub answer
}

// GetEnrichTarget returns the item with its stored enrichment state.
func (s *Store) GetEnrichTarget(ctx context.Context, id uuid.UUID) (EnrichTarget, error) {
	var t EnrichTarget
	rows, _ := s.pool.Query(ctx, selectItems+" WHERE id = $1", id)
	it, err := pgx.CollectExactlyOneRow(rows, scanEnrichedItem)
	if err != nil {
		return t, translate("get enrich target", err)
	}
	t.Item = it
	err = s.pool.QueryRow(ctx, "SELECT github_state FROM item_enrichment WHERE item_id = $1", id).Scan(&t.GitHubState)
	if err != nil && err != pgx.ErrNoRows {
		return t, translate("get enrich target", err)
	}
	return t, nil
}

// Enrichment is the result of one check. Nil fields keep what is stored
// (a source that was not asked, or paused by a rate limit).
type Enrichment struct {
	Registry    *inventory.RegistryFacts
	GitHub      *inventory.GitHubFacts
	GitHubState json.RawMessage
	Links       []inventory.LinkResult
	ClearGitHub bool // the source is not on GitHub (any more)
	// Failed keeps the job's attempt count, so the next retry backs off
	// further; a clean check resets it.
	Failed bool
}

// SaveEnrichment stores e for the job, if the item did not change since
// the job was claimed (same generation), and schedules the next run at
// next. It reports whether e was stored; false means the item changed (or
// was deleted) and the job is left due to run again.
func (s *Store) SaveEnrichment(ctx context.Context, j Job, e Enrichment, next time.Time) (bool, error) {
	saved := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var gen int64
		err := tx.QueryRow(ctx, "SELECT generation FROM enrich_jobs WHERE item_id = $1 FOR UPDATE", j.ItemID).Scan(&gen)
		if err == pgx.ErrNoRows {
			return nil // the item was deleted
		}
		if err != nil {
			return translate("save enrichment", err)
		}
		if gen != j.Generation {
			_, err := tx.Exec(ctx, "UPDATE enrich_jobs SET locked_by = NULL, locked_until = NULL WHERE item_id = $1", j.ItemID)
			return translate("save enrichment", err)
		}
		reg, gh, links, err := marshalEnrichment(e)
		if err != nil {
			return err
		}
		var updateAvailable, archived, broken *bool
		if e.Registry != nil {
			v := e.Registry.Update != nil && e.Registry.Update.Available
			updateAvailable = &v
		}
		if e.GitHub != nil || e.ClearGitHub {
			v := e.GitHub != nil && e.GitHub.Archived
			archived = &v
		}
		if e.Links != nil {
			v := false
			for _, l := range e.Links {
				v = v || l.State == inventory.LinkBroken
			}
			broken = &v
		}
		_, err = tx.Exec(ctx, `INSERT INTO item_enrichment AS e
			(item_id, registry, github, github_state, links, update_available, archived, links_broken, checked_at)
			VALUES ($1, $2, $3, $4, $5, coalesce($6, false), coalesce($7, false), coalesce($8, false), now())
			ON CONFLICT (item_id) DO UPDATE SET
				registry = coalesce($2, e.registry),
				github = CASE WHEN $9 THEN NULL ELSE coalesce($3, e.github) END,
				github_state = CASE WHEN $9 THEN NULL ELSE coalesce($4, e.github_state) END,
				links = coalesce($5, e.links),
				update_available = coalesce($6, e.update_available),
				archived = coalesce($7, e.archived),
				links_broken = coalesce($8, e.links_broken),
				checked_at = now()`,
			j.ItemID, reg, gh, nullJSON(e.GitHubState), links, updateAvailable, archived, broken, e.ClearGitHub)
		if err != nil {
			return translate("save enrichment", err)
		}
		_, err = tx.Exec(ctx, `UPDATE enrich_jobs SET run_at = $2, locked_by = NULL, locked_until = NULL,
			attempts = CASE WHEN $3 THEN attempts ELSE 0 END, last_error = NULL WHERE item_id = $1`, j.ItemID, next, e.Failed)
		saved = err == nil
		return translate("save enrichment", err)
	})
	return saved, err
}

func marshalEnrichment(e Enrichment) (reg, gh, links []byte, err error) {
	if e.Registry != nil {
		if reg, err = json.Marshal(e.Registry); err != nil {
			return
		}
	}
	if e.GitHub != nil {
		if gh, err = json.Marshal(e.GitHub); err != nil {
			return
		}
	}
	if e.Links != nil {
		links, err = json.Marshal(e.Links)
	}
	return
}

func nullJSON(b json.RawMessage) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// RetryJob releases a job that failed as a whole (the store was
// unreachable, the worker is shutting down) to run again at next.
func (s *Store) RetryJob(ctx context.Context, j Job, next time.Time, msg string) error {
	_, err := s.pool.Exec(ctx, `UPDATE enrich_jobs SET run_at = $2, locked_by = NULL, locked_until = NULL,
		last_error = $3 WHERE item_id = $1 AND generation = $4`, j.ItemID, next, msg, j.Generation)
	return translate("retry job", err)
}

// EnqueueRefresh makes the item's job due now. ErrNotFound when there is
// no such item.
func (s *Store) EnqueueRefresh(ctx context.Context, id uuid.UUID) (time.Time, error) {
	var at time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO enrich_jobs (item_id, reason)
		SELECT id, 'refresh' FROM items WHERE id = $1
		ON CONFLICT (item_id) DO UPDATE SET run_at = now(), generation = enrich_jobs.generation + 1,
			attempts = 0, reason = 'refresh'
		RETURNING run_at`, id).Scan(&at)
	return at, translate("enqueue refresh", err)
}

// ExpireLeasesForTest ends every job lease now, as if the replicas holding
// them had died a lease ago. Tests only.
func (s *Store) ExpireLeasesForTest(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "UPDATE enrich_jobs SET locked_until = now() - interval '1 second' WHERE locked_until IS NOT NULL")
	return translate("expire leases", err)
}
