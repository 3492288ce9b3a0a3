package keys_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestCreateVerifyRevoke(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := keys.NewStore(store.New(pool))
	v := s

	k, secret, err := s.Create(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, k.Prefix) || len(secret) < 40 {
		t.Errorf("secret %q does not start with its prefix %q or is short", secret, k.Prefix)
	}

	got, err := v.Verify(ctx, secret)
	if err != nil || got.ID != k.ID || got.Name != "ci" {
		t.Fatalf("Verify(new key) = %+v, %v; want key %s", got, err, k.ID)
	}
	if _, err := v.Verify(ctx, secret+"x"); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("Verify(wrong key) error = %v, want ErrInvalid", err)
	}

	// Only a hash is stored.
	var row string
	if err := pool.QueryRow(ctx, `SELECT api_keys::text FROM api_keys`).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, secret[len(k.Prefix):]) {
		t.Errorf("the table holds the secret: %s", row)
	}

	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].LastUsedAt == nil || list[0].RevokedAt != nil {
		t.Errorf("List after one use = %+v, want one active key with a last use", list)
	}

	if _, err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, secret); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("Verify(revoked key) error = %v, want ErrInvalid", err)
	}
	if _, err := s.Revoke(ctx, k.ID); err != nil {
		t.Errorf("revoking twice: %v, want no error", err)
	}
	for _, id := range []string{"0193a1b2-0000-7000-8000-000000000000", "not-a-uuid"} {
		if _, err := s.Revoke(ctx, id); !errors.Is(err, keys.ErrNotFound) {
			t.Errorf("Revoke(%s) error = %v, want ErrNotFound", id, err)
		}
	}
}

func TestCommands(t *testing.T) {
	ctx := context.Background()
	s := keys.NewStore(store.New(pgtest.New(t)))
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := keys.Run(ctx, args, s, &out)
		return out.String(), err
	}

	out, err := run("create", "deploy bot")
	if err != nil {
		t.Fatal(err)
	}
	secret, note, _ := strings.Cut(out, "\n")
	if !strings.Contains(note, "only time") {
		t.Errorf("create output lacks the shown-once warning:\n%s", out)
	}
	k, err := s.Verify(ctx, secret)
	if err != nil {
		t.Fatalf("the first line of create (%q) is not a working key: %v", secret, err)
	}

	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, k.ID) || !strings.Contains(out, "deploy bot") || !strings.Contains(out, "active") {
		t.Errorf("list output lacks the key:\n%s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("list prints the secret:\n%s", out)
	}

	if _, err := run("revoke", k.ID); err != nil {
		t.Fatal(err)
	}
	out, _ = run("list")
	if !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke does not say revoked:\n%s", out)
	}

	for _, args := range [][]string{{}, {"create"}, {"create", "a", "b"}, {"list", "x"}, {"revoke"}, {"rotate"}} {
		if _, err := run(args...); err == nil {
			t.Errorf("keys %q succeeded, want a usage error", args)
		}
	}
	if _, err := run("create", "  "); err == nil {
		t.Error("create with a blank name succeeded")
	}
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	s := keys.NewStore(store.New(pgtest.New(t)))
	k, secret, err := s.Create(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	fileKeys, err := auth.NewAPIKeys("file-key-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	chain := auth.Chain{s, fileKeys}
	tests := []struct {
		name, header, subject string
		err                   error
	}{
		{"database key", secret, "api-key:" + k.ID, nil},
		{"file key after the store", "file-key-0123456789abcdef", "", nil},
		{"unknown key", "dex_unknown-0123456789", "", auth.ErrInvalidCredentials},
		{"no key", "", "", auth.ErrNoCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/api/inventory", nil)
			if tc.header != "" {
				req.Header.Set(auth.APIKeyHeader, tc.header)
			}
			p, err := chain.Authenticate(req)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Authenticate error = %v, want %v", err, tc.err)
			}
			if tc.subject != "" && p.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", p.Subject, tc.subject)
			}
			if err == nil && p.Method != "api_key" {
				t.Errorf("Method = %q, want api_key", p.Method)
			}
		})
	}
}

// With PostgreSQL down a key cannot be checked: the error is
// store.ErrUnavailable, which the API answers with 503, not 500.
func TestDatabaseDownIsUnavailable(t *testing.T) {
	ctx := context.Background()
	pool, err := store.NewPool(ctx, "postgres://u:p@127.0.0.1:1/db?sslmode=disable&connect_timeout=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := keys.NewStore(store.New(pool))
	r := httptest.NewRequest(http.MethodPost, "/api/inventory", nil)
	r.Header.Set(auth.APIKeyHeader, "dex_"+strings.Repeat("a", 43))
	if _, err := s.Authenticate(r); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Authenticate with PostgreSQL down = %v, want store.ErrUnavailable", err)
	}
	if _, err := s.List(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("List with PostgreSQL down = %v, want store.ErrUnavailable", err)
	}
}

// countingRows is the real store, counting the key lookups that reach it.
type countingRows struct {
	*store.Store
	lookups atomic.Int64
}

func (c *countingRows) LiveAPIKey(ctx context.Context, hash []byte) (store.APIKey, error) {
	c.lookups.Add(1)
	return c.Store.LiveAPIKey(ctx, hash)
}

// A junk X-API-Key costs PostgreSQL at most one query: a malformed one
// none, a repeated unknown one only the first time. Valid keys are not
// remembered: a revocation takes effect at the next request.
func TestJunkKeysDoNotReachTheDatabase(t *testing.T) {
	ctx := context.Background()
	rows := &countingRows{Store: store.New(pgtest.New(t))}
	s := keys.NewStore(rows)
	lookups := func(want int64, what string) {
		t.Helper()
		if got := rows.lookups.Load(); got != want {
			t.Errorf("%s: %d lookups in PostgreSQL, want %d", what, got, want)
		}
	}
	for _, junk := range []string{"dex_" + strings.Repeat("%", 43), "dex_ab cd", "dex_" + strings.Repeat("é", 20)} {
		if _, err := s.Verify(ctx, junk); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrInvalid", junk, err)
		}
	}
	lookups(0, "malformed keys")
	unknown := "dex_" + strings.Repeat("A", 43)
	for range 5 {
		if _, err := s.Verify(ctx, unknown); !errors.Is(err, keys.ErrInvalid) {
			t.Fatalf("Verify(unknown) = %v, want ErrInvalid", err)
		}
	}
	lookups(1, "one unknown key, five times")

	k, secret, err := s.Create(ctx, "ci")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := s.Verify(ctx, secret); err != nil {
			t.Fatalf("Verify(live key) = %v", err)
		}
	}
	if _, err := s.Revoke(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, secret); !errors.Is(err, keys.ErrInvalid) {
		t.Errorf("Verify(revoked key) = %v, want ErrInvalid at once", err)
	}
	lookups(4, "a live key checked twice, then revoked")
}
