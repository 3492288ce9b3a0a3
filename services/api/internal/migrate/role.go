package migrate

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// APIRole is the PostgreSQL role the api serves as: it may log in, read
// and write the rows of the tables in apiPrivileges (and use their
// sequences), and nothing else: no DDL, no other table, not the schema's
// owner, not a superuser.
type APIRole struct {
	Name     string
	Password string
	// StatementTimeout and IdleInTransactionTimeout are set for the role
	// in this database (ALTER ROLE … IN DATABASE … SET): a statement
	// running longer is cancelled (SQLSTATE 57014), a session idle in a
	// transaction longer is ended. Zero leaves the server's default (off).
	StatementTimeout         time.Duration
	IdleInTransactionTimeout time.Duration
}

// apiPrivileges is what the api does with each table of migrations/; a
// table that is not listed is out of its reach. Of goose_db_version it
// may read the version_id column alone (schemaVersionGrant), so it can
// tell whether the schema is as new as its migrations before it serves.
// A migration that adds a table adds it here (TestAPIPrivilegesCoverTables
// fails until then).
var apiPrivileges = map[string]string{
	"items":           "SELECT, INSERT, UPDATE, DELETE",
	"api_keys":        "SELECT, INSERT, UPDATE, DELETE",
	"item_enrichment": "SELECT, INSERT, UPDATE, DELETE", // the items trigger updates it
	"enrich_jobs":     "SELECT, INSERT, UPDATE, DELETE", // and enqueues here
	"api_secrets":     "SELECT, INSERT",                 // 00004: made once, never changed
}

// schemaVersionGrant lets the api read which migrations have run, and
// nothing else of goose's table (REVOKE ALL ON ALL TABLES above takes
// column privileges too, so each run starts from none).
const schemaVersionGrant = `GRANT SELECT (version_id) ON TABLE public.goose_db_version TO %I`

// GrantAPIRole creates role (or brings an existing one back to the
// privileges above, with the new password and timeouts) in the database
// the Runner migrates. Run it as the schema's owner after Up; it is
// idempotent and safe to run from several migrators at once. The password
// reaches the server only as a SCRAM-SHA-256 verifier, so it appears in no
// server log or statistics view.
func (r *Runner) GrantAPIRole(ctx context.Context, role APIRole) error {
	if role.Name == "" || role.Password == "" {
		return errors.New("migrate: the api role needs a name and a password")
	}
	verifier, err := scramVerifier(role.Password)
	if err != nil {
		return err
	}
	var self bool
	if err := r.db.QueryRowContext(ctx, `SELECT current_user = $1`, role.Name).Scan(&self); err != nil {
		return fmt.Errorf("migrate: api role: %w", err)
	}
	if self {
		return fmt.Errorf("migrate: the api role %q is the role migrations run as: give the api a role of its own", role.Name)
	}
	var exists bool
	if err := r.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, role.Name).Scan(&exists); err != nil {
		return fmt.Errorf("migrate: api role: %w", err)
	}
	if !exists {
		// Another migrator may create it first: its error is harmless,
		// the ALTER below sets everything either way.
		_ = execFormat(ctx, r.db, `CREATE ROLE %I`, role.Name)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: api role: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	stmts := []struct {
		f    string
		args []any
	}{
		{`ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT PASSWORD %L`, []any{role.Name, verifier}},
		{`ALTER ROLE %I IN DATABASE %I SET statement_timeout = %L`, []any{role.Name, dbNameArg, millis(role.StatementTimeout)}},
		{`ALTER ROLE %I IN DATABASE %I SET idle_in_transaction_session_timeout = %L`, []any{role.Name, dbNameArg, millis(role.IdleInTransactionTimeout)}},
		{`GRANT CONNECT ON DATABASE %I TO %I`, []any{dbNameArg, role.Name}},
		{`REVOKE CREATE ON SCHEMA public FROM PUBLIC`, nil},
		{`REVOKE ALL ON SCHEMA public FROM %I`, []any{role.Name}},
		{`GRANT USAGE ON SCHEMA public TO %I`, []any{role.Name}},
		{`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I`, []any{role.Name}},
		{`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I`, []any{role.Name}},
		{`REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM %I`, []any{role.Name}},
	}
	stmts = append(stmts, struct {
		f    string
		args []any
	}{schemaVersionGrant, []any{role.Name}})
	for table, privs := range apiPrivileges {
		stmts = append(stmts, struct {
			f    string
			args []any
		}{`GRANT ` + privs + ` ON TABLE public.%I TO %I`, []any{table, role.Name}})
	}
	for _, s := range stmts {
		if err := execFormat(ctx, tx, s.f, s.args...); err != nil {
			return fmt.Errorf("migrate: api role %q: %w", role.Name, err)
		}
	}
	// The sequences behind the granted tables' columns (none today).
	rows, err := tx.QueryContext(ctx, `
		SELECT DISTINCT s.relname FROM pg_class s
		JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
		JOIN pg_class t ON t.oid = d.refobjid
		JOIN pg_namespace n ON n.oid = s.relnamespace
		WHERE s.relkind = 'S' AND n.nspname = 'public' AND t.relname = ANY($1)`, tableNames())
	if err != nil {
		return fmt.Errorf("migrate: api role: sequences: %w", err)
	}
	var seqs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: api role: sequences: %w", err)
		}
		seqs = append(seqs, s)
	}
	rows.Close()
	for _, s := range seqs {
		if err := execFormat(ctx, tx, `GRANT USAGE, SELECT ON SEQUENCE public.%I TO %I`, s, role.Name); err != nil {
			return fmt.Errorf("migrate: api role %q: %w", role.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: api role %q: %w", role.Name, err)
	}
	r.log.InfoContext(ctx, "api role granted", "role", role.Name,
		"statement_timeout", role.StatementTimeout.String(),
		"idle_in_transaction_session_timeout", role.IdleInTransactionTimeout.String())
	return nil
}

// dbNameArg stands for current_database() in execFormat's arguments.
type dbName struct{}

var dbNameArg = dbName{}

// execFormat runs the statement PostgreSQL's format() makes of f and args
// (%I quotes an identifier, %L a literal), since utility statements take
// no parameters.
func execFormat(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, f string, args ...any) error {
	sel := "SELECT format($1::text"
	params := []any{f}
	for _, a := range args {
		if _, ok := a.(dbName); ok {
			sel += ", current_database()"
			continue
		}
		params = append(params, a)
		sel += fmt.Sprintf(", $%d::text", len(params))
	}
	var stmt string
	if err := q.QueryRowContext(ctx, sel+")", params...).Scan(&stmt); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, stmt)
	return err
}

func millis(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

func tableNames() []string {
	out := make([]string, 0, len(apiPrivileges))
	for t := range apiPrivileges {
		out = append(out, t)
	}
	return out
}

// scramVerifier is what PostgreSQL stores for password under
// SCRAM-SHA-256 (RFC 5802, 7677; 4096 iterations, PostgreSQL's default):
// ALTER ROLE … PASSWORD takes it as is.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const iter = 4096
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("migrate: api role password: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}
