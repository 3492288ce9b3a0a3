// Package keys manages the API keys that automation sends as X-API-Key.
//
// Keys live in PostgreSQL (table api_keys, migration 00002) as SHA-256
// hashes: a key is 256 random bits, so a fast hash makes a leaked table
// useless while verification stays one index probe. The key itself exists
// only in the output of Create (`api keys create NAME`), shown once. Keys
// listed in API_KEYS_FILE (the api_key.txt Docker secret) are accepted too;
// they are hashed when the file is loaded and never stored.
//
// Verifier checks a presented key against both; the `api keys` subcommands
// are Run.
package keys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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
}

// NewStore returns a Store on pool; the caller closes the pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

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
	rows, _ := s.pool.Query(ctx,
		`SELECT `+keyColumns+` FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash(key))
	k, err := pgx.CollectExactlyOneRow(rows, scanKey)
	if errors.Is(err, pgx.ErrNoRows) {
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

// FileKeys are the keys of API_KEYS_FILE: one per line; blank lines and
// lines starting with # are ignored. Only their hashes are kept.
type FileKeys struct {
	hashes map[[32]byte]string // hash -> principal id
}

// minFileKeyLen refuses keys weak enough to guess.
const minFileKeyLen = 16

// LoadFile reads path. The error names the line of a key too short to be
// safe (under 16 characters), without printing it.
func LoadFile(path string) (*FileKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
	}
	return ParseFile(string(b), path)
}

// ParseFile parses the contents of a keys file; name is used in errors.
func ParseFile(contents, name string) (*FileKeys, error) {
	fk := &FileKeys{hashes: map[[32]byte]string{}}
	for i, line := range strings.Split(contents, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < minFileKeyLen || len(line) > maxKeyLen {
			return nil, fmt.Errorf("API_KEYS_FILE %s line %d: a key must have %d to %d characters", name, i+1, minFileKeyLen, maxKeyLen)
		}
		h := sha256.Sum256([]byte(line))
		fk.hashes[h] = "file:" + hex.EncodeToString(h[:6])
	}
	return fk, nil
}

// Len is the number of keys loaded.
func (f *FileKeys) Len() int {
	if f == nil {
		return 0
	}
	return len(f.hashes)
}

// Verifier checks presented keys against the file keys and the Store.
// Either may be nil. It is safe for concurrent use.
type Verifier struct {
	File  *FileKeys
	Store *Store
}

// Verify returns the key that secret is, or ErrInvalid. Any other error
// means the check could not be made (the database is down): not the
// client's fault. File keys are named "API_KEYS_FILE" and have the id
// "file:" followed by 12 hex digits of their hash.
func (v *Verifier) Verify(ctx context.Context, secret string) (Key, error) {
	if secret == "" || len(secret) > maxKeyLen {
		return Key{}, ErrInvalid
	}
	if v.File != nil {
		if id, ok := v.File.hashes[sha256.Sum256([]byte(secret))]; ok {
			return Key{ID: id, Name: "API_KEYS_FILE"}, nil
		}
	}
	if v.Store == nil || !strings.HasPrefix(secret, keyPrefix) {
		return Key{}, ErrInvalid
	}
	return v.Store.lookup(ctx, secret)
}
