// Package store persists the inventory in PostgreSQL with hand-written SQL
// on pgx's native API. One file per aggregate; transactions go through
// Store.inTx.
//
// Errors are translated here, where they are produced: pgx.ErrNoRows
// becomes ErrNotFound, a unique violation (SQLSTATE 23505) ErrConflict, a
// connection failure ErrUnavailable, a statement cancelled by
// statement_timeout ErrTimeout and a missing table or column ErrSchema
// (both ErrUnavailable). Callers test them with errors.Is.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

var (
	// ErrNotFound means the row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a write would break a uniqueness rule.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable means PostgreSQL could not be reached; retrying later
	// may succeed.
	ErrUnavailable = errors.New("database unavailable")
	// ErrTimeout means PostgreSQL cancelled a statement that ran past the
	// role's statement_timeout (SQLSTATE 57014), e.g. behind a lock held
	// by a migration. It is an ErrUnavailable: retrying later may succeed.
	ErrTimeout = fmt.Errorf("%w: statement timeout", ErrUnavailable)
	// ErrSchema means a table or column the query names is not there
	// (SQLSTATE 42P01, 42703): the schema is older than this binary, and
	// `migrate up` has not run yet. It is an ErrUnavailable: retrying once
	// it has may succeed.
	ErrSchema = fmt.Errorf("%w: schema not migrated", ErrUnavailable)
)

// Store is the PostgreSQL store. It is safe for concurrent use. It does
// not own the pool: whoever created the pool closes it.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// NewPool opens a pool on url with the timeouts the API wants. tracer may
// be nil. Connections are made lazily, so a database that is down at
// start-up makes the service unready, not dead. The caller closes the pool.
func NewPool(ctx context.Context, url string, tracer pgx.QueryTracer) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("store: the database URL cannot be parsed")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.ConnConfig.Tracer = tracer
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.MaxConnLifetime = time.Hour
	cfg.HealthCheckPeriod = 30 * time.Second
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "api"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return pool, nil
}

// Ping checks that PostgreSQL answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate("ping", s.pool.Ping(ctx))
}

// SchemaVersion is the newest migration applied to the database (goose's
// table; the api's role may read its version_id column), 0 when none has
// run.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM goose_db_version`).Scan(&v)
	if err = translate("schema version", err); errors.Is(err, ErrSchema) {
		return 0, nil // no goose_db_version: nothing migrated yet
	}
	return v, err
}

// inTx runs fn in a transaction, committing when it returns nil and
// rolling back otherwise. fn's error is returned as is.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, fn)
}

// translate wraps err with op and maps driver errors to this package's
// sentinels. Errors that are already translated pass through unwrapped by
// the sentinels again.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	var connErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict), errors.Is(err, ErrUnavailable):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("store: %s: %w", op, ErrNotFound)
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return fmt.Errorf("store: %s: %w (%s)", op, ErrConflict, pgErr.ConstraintName)
	case errors.As(err, &pgErr) && pgErr.Code == "57014":
		return fmt.Errorf("store: %s: %w: %w", op, ErrTimeout, err)
	case errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "42703"):
		return fmt.Errorf("store: %s: %w: %w", op, ErrSchema, err)
	case errors.As(err, &connErr), errors.As(err, &netErr) && !errors.Is(err, context.Canceled):
		return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, err)
	case errors.As(err, &pgErr) && (pgErr.Code == "57P01" || pgErr.Code == "57P03" || pgErr.Code == "25P03" || pgErr.Code[:2] == "08"):
		// admin shutdown, cannot connect now, idle in a transaction past
		// idle_in_transaction_session_timeout, connection exceptions
		return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, err)
	default:
		return fmt.Errorf("store: %s: %w", op, err)
	}
}
