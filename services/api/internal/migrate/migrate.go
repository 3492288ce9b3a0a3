// Package migrate applies the API's embedded goose migrations
// (github.com/docker-examples/stack/migrations) to PostgreSQL.
//
// Every operation holds a PostgreSQL session-level advisory lock for its
// whole duration (goose's session locker), so replicas that start together
// with AUTO_MIGRATE, or a one-shot migrate job racing a replica, apply each
// migration exactly once: the others wait for the lock, then find nothing
// left to do.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/docker-examples/stack/migrations"
)

// Runner applies migrations to one database. It is not safe for concurrent
// use; the advisory lock makes concurrent Runners (in any process) safe.
type Runner struct {
	db  *sql.DB
	p   *goose.Provider
	log *slog.Logger
}

// Open connects to the database at url (a PostgreSQL URL or key=value DSN)
// and prepares a Runner. The caller closes it.
//
// lockWait bounds how long an operation waits for another migrator's
// advisory lock (rounded up to whole seconds, at least 1s).
func Open(url string, lockWait time.Duration, log *slog.Logger) (*Runner, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("migrate: open database: %w", err)
	}
	db.SetMaxOpenConns(2)
	tries := uint64(lockWait / time.Second)
	if tries < 1 {
		tries = 1
	}
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, tries))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return &Runner{db: db, p: p, log: log}, nil
}

// Close releases the database connections.
func (r *Runner) Close() error { return r.p.Close() }

// Up applies every pending migration. It is a no-op when the schema is
// current.
func (r *Runner) Up(ctx context.Context) error {
	res, err := r.p.Up(ctx)
	r.logResults(ctx, res)
	if err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	if len(res) == 0 {
		r.log.InfoContext(ctx, "schema is up to date")
	}
	return nil
}

// Down rolls back the most recent migration.
func (r *Runner) Down(ctx context.Context) error {
	res, err := r.p.Down(ctx)
	if res != nil {
		r.logResults(ctx, []*goose.MigrationResult{res})
	}
	if errors.Is(err, goose.ErrNoNextVersion) {
		r.log.InfoContext(ctx, "nothing to roll back")
		return nil
	}
	if err != nil {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Status writes one line per known migration to w: version, state and when
// it was applied.
func (r *Runner) Status(ctx context.Context, w io.Writer) error {
	st, err := r.p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
	for _, s := range st {
		at := "-"
		if !s.AppliedAt.IsZero() {
			at = s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
	}
	return tw.Flush()
}

func (r *Runner) logResults(ctx context.Context, res []*goose.MigrationResult) {
	for _, m := range res {
		attrs := []any{"version", m.Source.Version, "file", m.Source.Path,
			"direction", m.Direction, "duration", m.Duration.String()}
		if m.Error != nil {
			r.log.ErrorContext(ctx, "migration failed", append(attrs, "err", m.Error)...)
			continue
		}
		r.log.InfoContext(ctx, "migration applied", attrs...)
	}
}
