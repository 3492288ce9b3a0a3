package migrate_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/docker-examples/stack/services/api/internal/migrate"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// sqlState is the SQLSTATE of err, or "" when it is nil or not from the
// server.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestAPIRoleMayOnlyReadAndWriteRows: the role the api serves as reads and
// writes the rows it uses, but cannot change the schema, read or change
// the migrations' table (only its version_id column, to know the schema's
// version), or run a statement past its timeout.
func TestAPIRoleMayOnlyReadAndWriteRows(t *testing.T) {
	owner := pgtest.URL(t)
	conn := connect(t, pgtest.APIURL(t, owner, 300*time.Millisecond))
	ctx := context.Background()

	var super bool
	var timeout, idle string
	if err := conn.QueryRow(ctx, `SELECT rolsuper, current_setting('statement_timeout'),
		current_setting('idle_in_transaction_session_timeout') FROM pg_roles WHERE rolname = current_user`).Scan(&super, &timeout, &idle); err != nil {
		t.Fatal(err)
	}
	if super || timeout != "300ms" || idle != "1min" {
		t.Errorf("superuser %v, statement_timeout %s, idle_in_transaction_session_timeout %s: want false, 300ms, 1min", super, timeout, idle)
	}

	for _, tc := range []struct {
		name, sql string
		want      string // SQLSTATE, "" for success
	}{
		{"insert an item", `INSERT INTO items (id, name, image, image_normalized, image_repository)
			VALUES (gen_random_uuid(), 'pg', 'postgres:17', 'docker.io/library/postgres:17', 'docker.io/library/postgres')`, ""},
		{"update it (the trigger writes enrich_jobs)", `UPDATE items SET description = 'db'`, ""},
		{"read enrichment", `SELECT count(*) FROM item_enrichment`, ""},
		{"make a shared secret", `INSERT INTO api_secrets (name, value) VALUES ('k', decode(repeat('ab', 32), 'hex'))`, ""},
		{"read it", `SELECT value FROM api_secrets`, ""},
		{"change it", `UPDATE api_secrets SET value = value`, "42501"},
		{"delete it", `DELETE FROM api_secrets`, "42501"},
		{"delete items", `DELETE FROM items`, ""},
		{"drop a table", `DROP TABLE items`, "42501"},
		{"alter a table", `ALTER TABLE items ADD COLUMN x int`, "42501"},
		{"truncate a table", `TRUNCATE api_keys`, "42501"},
		{"create a table", `CREATE TABLE mine (x int)`, "42501"},
		{"replace the trigger function", `CREATE OR REPLACE FUNCTION enrich_enqueue() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'`, "42501"},
		{"read the migrations' table", `SELECT * FROM goose_db_version`, "42501"},
		{"read the schema's version", `SELECT max(version_id) FROM goose_db_version`, ""},
		{"change the schema's version", `UPDATE goose_db_version SET version_id = 0`, "42501"},
		{"run past the statement timeout", `SELECT pg_sleep(30)`, "57014"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conn.Exec(ctx, tc.sql)
			if got := sqlState(err); got != tc.want {
				t.Errorf("%s: SQLSTATE %q (%v), want %q", tc.sql, got, err, tc.want)
			}
		})
	}
}

// TestGrantAPIRoleAgain: a second migrate run (a new password, new
// timeouts) keeps the role working with the new settings.
func TestGrantAPIRoleAgain(t *testing.T) {
	owner := pgtest.URL(t)
	first := pgtest.APIURL(t, owner, time.Second)
	conn := connect(t, first)
	var name string
	if err := conn.QueryRow(context.Background(), `SELECT current_user`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	r, err := migrate.Open(owner, time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	err = r.GrantAPIRole(context.Background(), migrate.APIRole{Name: name, Password: "new-password-123", StatementTimeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("second grant: %v", err)
	}
	if _, err := pgx.Connect(context.Background(), first); err == nil {
		t.Error("the old password still works")
	}
	conn2 := connect(t, replacePassword(t, first, "new-password-123"))
	var timeout string
	if err := conn2.QueryRow(context.Background(), `SELECT current_setting('statement_timeout')`).Scan(&timeout); err != nil {
		t.Fatal(err)
	}
	if timeout != "2s" {
		t.Errorf("statement_timeout %s after the second grant, want 2s", timeout)
	}
	// The owner itself cannot be made the api role.
	var self string
	if err := connect(t, owner).QueryRow(context.Background(), `SELECT current_user`).Scan(&self); err != nil {
		t.Fatal(err)
	}
	if err := r.GrantAPIRole(context.Background(), migrate.APIRole{Name: self, Password: "x"}); err == nil {
		t.Error("GrantAPIRole on the migrations' own role succeeded")
	}
}

// TestAPIPrivilegesCoverTables: every table the migrations make is either
// granted to the api or deliberately out of its reach, so a new table
// cannot be forgotten (the api would fail on it with permission denied).
func TestAPIPrivilegesCoverTables(t *testing.T) {
	conn := connect(t, pgtest.URL(t))
	rows, err := conn.Query(context.Background(),
		`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	var granted []string
	for tbl := range migrate.APIPrivileges {
		granted = append(granted, tbl)
	}
	sort.Strings(granted)
	if d := cmp.Diff(tables, granted); d != "" {
		t.Errorf("tables of the migrations (-) vs tables in apiPrivileges (+):\n%s", d)
	}
}

func replacePassword(t *testing.T, raw, pw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}
