package keys_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestCreateVerifyRevoke(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t)
	s := keys.NewStore(pool)
	v := &keys.Verifier{Store: s}

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
	s := keys.NewStore(pgtest.New(t))
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
	k, err := (&keys.Verifier{Store: s}).Verify(ctx, secret)
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

func TestFileKeys(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef"
	fk, err := keys.ParseFile("# automation\n\n  "+good+"  \r\n", "api_key.txt")
	if err != nil {
		t.Fatal(err)
	}
	if fk.Len() != 1 {
		t.Fatalf("Len = %d, want 1", fk.Len())
	}
	v := &keys.Verifier{File: fk}
	k, err := v.Verify(context.Background(), good)
	if err != nil || !strings.HasPrefix(k.ID, "file:") {
		t.Errorf("Verify(file key) = %+v, %v", k, err)
	}
	for _, bad := range []string{"", good + "0", strings.Repeat("a", 300)} {
		if _, err := v.Verify(context.Background(), bad); !errors.Is(err, keys.ErrInvalid) {
			t.Errorf("Verify(%.20q) error = %v, want ErrInvalid", bad, err)
		}
	}

	_, err = keys.ParseFile(good+"\nshortkey\n", "api_key.txt")
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "shortkey") {
		t.Errorf("ParseFile(short key) error = %v, want one naming line 2 without the key", err)
	}
}
