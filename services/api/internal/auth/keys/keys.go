// Package keys manages the API keys that automation sends as X-API-Key.
//
// Keys live in PostgreSQL (table api_keys, migration 00002, SQL in package
// store, which translates its errors) as SHA-256
// hashes: a key is 256 random bits, so a fast hash makes a leaked table
// useless while verification stays one index probe. The key itself exists
// only in the output of Create (`api keys create NAME`), shown once, and
// revocation takes effect at once on every replica (nothing is cached).
// Keys listed in API_KEYS_FILE are package auth's (auth.APIKeys).
//
// Store is an auth.Authenticator; the `api keys` subcommands are Run.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// ErrInvalid means the presented key is unknown or revoked: 401.
var ErrInvalid = errors.New("invalid API key")

// ErrNotFound means no key has the given id.
var ErrNotFound = errors.New("no such API key")

// keyPrefix starts every generated key, so a key is recognisable in a
// config file or a secret scanner's report.
const keyPrefix = "dex_"

// maxKeyLen bounds what is hashed; no real key is longer.
const maxKeyLen = 256

// Key describes a key without its secret.
type Key = store.APIKey

// Rows is what keys need from PostgreSQL (*store.Store); errors are
// store's: ErrNotFound, ErrUnavailable (PostgreSQL down).
type Rows interface {
	CreateAPIKey(ctx context.Context, id uuid.UUID, name, prefix string, hash []byte) (store.APIKey, error)
	ListAPIKeys(ctx context.Context) ([]store.APIKey, error)
	RevokeAPIKey(ctx context.Context, id uuid.UUID) (store.APIKey, error)
	LiveAPIKey(ctx context.Context, hash []byte) (store.APIKey, error)
}

func hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Store makes, lists, revokes and verifies keys kept in rows. It is safe
// for concurrent use.
type Store struct {
	rows Rows
}

// NewStore returns a Store on rows.
func NewStore(rows Rows) *Store { return &Store{rows: rows} }

// Create makes a key named name and returns it with its secret, which is
// not kept anywhere: show it once.
func (s *Store) Create(ctx context.Context, name string) (Key, string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len([]rune(name)) > 100 {
		return Key{}, "", fmt.Errorf("a key name must have 1 to 100 characters")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Key{}, "", err
	}
	secret := keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	id, err := uuid.NewV7()
	if err != nil {
		return Key{}, "", err
	}
	k, err := s.rows.CreateAPIKey(ctx, id, name, secret[:12], hash(secret))
	if err != nil {
		return Key{}, "", err
	}
	return k, secret, nil
}

// List returns every key, revoked ones included, oldest first.
func (s *Store) List(ctx context.Context) ([]Key, error) { return s.rows.ListAPIKeys(ctx) }

// Revoke revokes the key with id, at once for every replica. Revoking a
// revoked key changes nothing. An unknown or malformed id is ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id string) (Key, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return Key{}, fmt.Errorf("revoke %q: %w", id, ErrNotFound)
	}
	k, err := s.rows.RevokeAPIKey(ctx, uid)
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, fmt.Errorf("revoke %s: %w", id, ErrNotFound)
	}
	return k, err
}

// Verify returns the live key whose secret is secret, or ErrInvalid. Any
// other error means the check could not be made: PostgreSQL down is
// store.ErrUnavailable (503), not the client's fault.
func (s *Store) Verify(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) > maxKeyLen {
		return Key{}, ErrInvalid
	}
	k, err := s.rows.LiveAPIKey(ctx, hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return Key{}, ErrInvalid
	}
	return k, err
}

// Authenticate implements auth.Authenticator with the X-API-Key header.
// A key that is not in the table is ErrNoCredentials, not invalid: in an
// auth.Chain the file keys (auth.APIKeys, API_KEYS_FILE) come next and
// refuse a key nobody knows with ErrInvalidCredentials. So put the Store
// before them:
//
//	auth.Chain{keysStore, fileKeys, sessions}
//
// The principal's Subject is "api-key:" and the key's id.
func (s *Store) Authenticate(r *http.Request) (auth.Principal, error) {
	secret := r.Header.Get(auth.APIKeyHeader)
	if secret == "" {
		return auth.Principal{}, auth.ErrNoCredentials
	}
	k, err := s.Verify(r.Context(), secret)
	switch {
	case errors.Is(err, ErrInvalid):
		return auth.Principal{}, auth.ErrNoCredentials
	case err != nil:
		return auth.Principal{}, err
	}
	return auth.Principal{Subject: "api-key:" + k.ID, Method: "api_key"}, nil
}
