package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// APIKey is a row of api_keys (migration 00002) without its hash: what
// package keys shows of a key.
type APIKey struct {
	ID         string
	Name       string
	Prefix     string // the key's first characters
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

const apiKeyColumns = `id::text, name, prefix, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.CollectableRow) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// CreateAPIKey stores a key by the hash of its secret and returns it.
func (s *Store) CreateAPIKey(ctx context.Context, id uuid.UUID, name, prefix string, hash []byte) (APIKey, error) {
	k := APIKey{ID: id.String(), Name: name, Prefix: prefix}
	err := s.pool.QueryRow(ctx,
		`INSERT INTO api_keys (id, name, prefix, hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		id, name, prefix, hash).Scan(&k.CreatedAt)
	if err != nil {
		return APIKey{}, translate("create API key", err)
	}
	return k, nil
}

// ListAPIKeys returns every key, revoked ones included, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY created_at, id`)
	ks, err := pgx.CollectRows(rows, scanAPIKey)
	return ks, translate("list API keys", err)
}

// RevokeAPIKey revokes the key with id (a revoked key stays as it was) and
// returns it; an unknown id is ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id uuid.UUID) (APIKey, error) {
	rows, _ := s.pool.Query(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING `+apiKeyColumns, id)
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	return k, translate("revoke API key", err)
}

// LiveAPIKey returns the unrevoked key whose secret hashes to hash, or
// ErrNotFound, and records its use at most once a minute (best effort).
// PostgreSQL down is ErrUnavailable: the key could not be checked.
func (s *Store) LiveAPIKey(ctx context.Context, hash []byte) (APIKey, error) {
	rows, _ := s.pool.Query(ctx,
		`SELECT `+apiKeyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash)
	k, err := pgx.CollectExactlyOneRow(rows, scanAPIKey)
	if err != nil {
		return APIKey{}, translate("verify API key", err)
	}
	if k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute {
		_, _ = s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, k.ID)
	}
	return k, nil
}
