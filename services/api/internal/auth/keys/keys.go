// Package keys manages the API keys that automation sends as X-API-Key.
//
// Keys live in PostgreSQL (table api_keys, migration 00002, SQL in package
// store, which translates its errors) as SHA-256
// hashes: a key is 256 random bits, so a fast hash makes a leaked table
// useless while verification stays one index probe. The key itself exists
// only in the output of Create (`api keys create NAME`), shown once, and
// revocation takes effect at once on every replica: valid keys are never
// cached. Only misses are, for a minute on each replica, so a repeated junk
// X-API-Key costs one query, and a key that isn't base64url after its
// prefix costs none at all (authentication runs before the rate limit).
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

// keyAlphabet is what follows keyPrefix in a key: base64url, as Create
// makes them (and scripts/secrets.sh's file keys, a subset). Anything else
// is refused without a query.
const keyAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Misses are remembered for missTTL, at most maxMisses of them (then the
// memory starts again).
const (
	missTTL   = time.Minute
	maxMisses = 10000
)

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

	// misses holds, with when they were seen, the hashes rows did not
	// know, so a client repeating a junk key costs no query after the
	// first. Only misses: a revocation still takes effect at once.
	mu     sync.Mutex
	misses map[[sha256.Size]byte]time.Time
}

// NewStore returns a Store on rows.
func NewStore(rows Rows) *Store {
	return &Store{rows: rows, misses: map[[sha256.Size]byte]time.Time{}}
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
	k, err := s.rows.CreateAPIKey(ctx, id, name, secret[:12], hash(secret))
	if err != nil {
		return Key{}, "", err
	}
	s.forgetMiss(sha256.Sum256([]byte(secret)))
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
// store.ErrUnavailable (503), not the client's fault. A malformed key
// costs no query, nor does an unknown one seen in the last minute.
func (s *Store) Verify(ctx context.Context, secret string) (Key, error) {
	if !strings.HasPrefix(secret, keyPrefix) || len(secret) > maxKeyLen ||
		strings.TrimLeft(secret[len(keyPrefix):], keyAlphabet) != "" {
		return Key{}, ErrInvalid
	}
	h := sha256.Sum256([]byte(secret))
	if s.knownMiss(h) {
		return Key{}, ErrInvalid
	}
	k, err := s.rows.LiveAPIKey(ctx, h[:])
	if errors.Is(err, store.ErrNotFound) {
		s.rememberMiss(h)
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
	secret := auth.APIKey(r)
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
