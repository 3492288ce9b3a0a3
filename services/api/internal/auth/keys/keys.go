// Package keys manages the API keys that automation sends as X-API-Key.
//
// Keys live in PostgreSQL (table api_keys, migration 00002) as SHA-256
// hashes: a key is 256 random bits, so a fast hash makes a leaked table
// useless while verification stays one index probe. The key itself exists
// only in the output of Create (`api keys create NAME`), shown once, and
// revocation takes effect at once on every replica (valid keys are never
// cached; only misses are, for a minute, so a repeated junk key costs no
// query, and a key that isn't base64url after its prefix costs none at all).
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
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docker-examples/stack/services/api/internal/auth"
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

// keyAlphabet is what follows keyPrefix in a key: base64url, as Create
// makes them (and scripts/secrets.sh's file keys, a subset). Anything else
// is refused without a query.
const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Key describes a key without its secret.
type Key struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"` // the key's first characters
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func hash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// Store keeps keys in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool

	// misses remembers, for missTTL, hashes the table did not hold, so a
	// client repeating a junk X-API-Key costs no query after the first.
	// Only misses are kept: a revocation still takes effect at once.
	mu     sync.Mutex
	misses map[[sha256.Size]byte]time.Time
}

const (
	missTTL   = time.Minute
	maxMisses = 10000 // then the memory is dropped and starts again
)

// NewStore returns a Store on pool; the caller closes the pool.
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{pool: pool, misses: map[[sha256.Size]byte]time.Time{}}
}

func (s *Store) knownMiss(h [sha256.Size]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.misses[h]
	if ok && time.Since(at) > missTTL {
		delete(s.misses, h)
		return false
	}
	return ok
}

func (s *Store) rememberMiss(h [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.misses) >= maxMisses {
		clear(s.misses)
	}
	s.misses[h] = time.Now()
}

func (s *Store) forgetMiss(h [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.misses, h)
}

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
	k := Key{ID: id.String(), Name: name, Prefix: secret[:12]}
	err = s.pool.QueryRow(ctx,
		`INSERT INTO api_keys (id, name, prefix, hash) VALUES ($1, $2, $3, $4) RETURNING created_at`,
		id, k.Name, k.Prefix, hash(secret)).Scan(&k.CreatedAt)
	if err != nil {
		return Key{}, "", fmt.Errorf("create API key: %w", err)
	}
	s.forgetMiss(sha256.Sum256([]byte(secret)))
	return k, secret, nil
}

const keyColumns = `id::text, name, prefix, created_at, last_used_at, revoked_at`

func scanKey(row pgx.CollectableRow) (Key, error) {
	var k Key
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt)
	return k, err
}

// List returns every key, revoked ones included, oldest first.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
	ks, err := pgx.CollectRows(rows, scanKey)
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	return ks, nil
}

// Revoke revokes the key with id, at once for every replica. Revoking a
// revoked key changes nothing. An unknown or malformed id is ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id string) (Key, error) {
	uid, err := uuid.Parse(id)
	if err != nil {
		return Key{}, fmt.Errorf("revoke %q: %w", id, ErrNotFound)
	}
	rows, _ := s.pool.Query(ctx,
		`UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING `+keyColumns, uid)
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, fmt.Errorf("revoke %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Key{}, fmt.Errorf("revoke API key: %w", err)
	}
	return k, nil
}

// lookup returns the live key whose secret is key, or ErrInvalid, and
// records its use at most once a minute.
func (s *Store) lookup(ctx context.Context, key string) (Key, error) {
	h := sha256.Sum256([]byte(key))
	if s.knownMiss(h) {
		return Key{}, ErrInvalid
	}
	rows, _ := s.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, h[:])
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
		s.rememberMiss(h)
		return Key{}, ErrInvalid
	}
	if err != nil {
		return Key{}, fmt.Errorf("verify API key: %w", err)
	}
	if k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute {
		// Usage tracking is best effort: the key is valid either way.
		_, _ = s.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, k.ID)
	}
	return k, nil
}

// Verify returns the live key whose secret is secret, or ErrInvalid. Any
// other error means the check could not be made (the database is down):
// not the client's fault.
func (s *Store) Verify(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) > maxKeyLen ||
		strings.TrimLeft(secret[len(keyPrefix):], keyAlphabet) != "" {
		return Key{}, ErrInvalid
	}
	return s.lookup(ctx, secret)
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
