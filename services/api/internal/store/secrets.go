package store

import (
	"context"
	"crypto/rand"
	"fmt"
)

// SharedSecret returns the secret called name (table api_secrets, migration
// 00004), creating it with size random bytes when there is none. Every
// replica gets the same value, whichever asked first: the insert does
// nothing when a concurrent one won, and the read that follows is a new
// statement, which sees the winner's row.
func (s *Store) SharedSecret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("shared secret %s: %w", name, err)
	}
	if _, err := s.pool.Exec(ctx,
		`INSERT INTO api_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, fresh); err != nil {
		return nil, translate("create shared secret "+name, err)
	}
	var v []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM api_secrets WHERE name = $1`, name).Scan(&v); err != nil {
		return nil, translate("read shared secret "+name, err)
	}
	return v, nil
}
