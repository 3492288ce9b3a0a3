// Package pgtest gives integration tests a real PostgreSQL database of their
// own: fresh, migrated, and dropped when the test ends.
//
// The server is found once per test binary:
//
//   - TEST_POSTGRES_URL names a running server (a role that may CREATE
//     DATABASE), e.g. postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable;
//   - else testcontainers-go starts the image platform/testimage finds
//     (POSTGRES_IMAGE, the one deploy/images.env names, or the official
//     image); Stop removes the container;
//   - else the test is skipped with a message saying to run `make images`,
//     except under CI=true, where it fails.
//
// The first caller migrates a template database; every test then gets
// CREATE DATABASE … TEMPLATE of it, which takes milliseconds. Use it from
// TestMain so the container is removed at the end:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		pgtest.Stop()
//		os.Exit(code)
//	}
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for wait.ForSQL
	"github.com/moby/moby/api/types/network"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/docker-examples/stack/platform/testimage"
	"github.com/docker-examples/stack/services/api/internal/migrate"
)

var (
	once     sync.Once
	setupErr error
	skipMsg  string
	admin    *url.URL // connects to the maintenance database
	template string   // name of the migrated template database
	ctr      testcontainers.Container
)

// URL returns the URL of a fresh, migrated database that is dropped when t
// ends.
func URL(t testing.TB) string {
	t.Helper()
	setup(t)
	name := "t_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := adminConn(ctx, t)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn := adminConn(ctx, t)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *admin
	u.Path = "/" + name
	return u.String()
}

// New returns a pool on a fresh, migrated database. The pool is closed and
// the database dropped when t ends.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close) // registered last, so it runs before the drop
	return pool
}

// APIURL gives dbURL's database (from URL) a role of its own that the api
// serves as, made by migrate.Runner.GrantAPIRole with statementTimeout and
// an idle-in-transaction timeout of a minute, and returns the URL that
// connects as it. The role is dropped when t ends.
func APIURL(t testing.TB, dbURL string, statementTimeout time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	role := migrate.APIRole{Name: "api_" + randomHex(6), Password: randomHex(16),
		StatementTimeout: statementTimeout, IdleInTransactionTimeout: time.Minute}
	r, err := migrate.Open(dbURL, time.Minute, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer r.Close()
	if err := r.GrantAPIRole(ctx, role); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Errorf("pgtest: drop role: %v", err)
			return
		}
		defer conn.Close(ctx)
		// DROP OWNED revokes its grants here and on the database itself.
		if _, err := conn.Exec(ctx, "DROP OWNED BY "+role.Name); err != nil {
			t.Errorf("pgtest: drop role %s: %v", role.Name, err)
		}
		if _, err := conn.Exec(ctx, "DROP ROLE "+role.Name); err != nil {
			t.Errorf("pgtest: drop role %s: %v", role.Name, err)
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.UserPassword(role.Name, role.Password)
	return u.String()
}

// Stop drops the template database and removes the container, if this
// binary started one. Call it from TestMain after m.Run.
func Stop() {
	if admin != nil && template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, admin.String()); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
			_ = conn.Close(ctx)
		}
	}
	if ctr != nil {
		_ = testcontainers.TerminateContainer(ctr)
	}
}

func setup(t testing.TB) {
	t.Helper()
	once.Do(func() { setupErr = start() })
	switch {
	case skipMsg != "" && os.Getenv("CI") == "true":
		t.Fatalf("pgtest: %s (CI=true: integration tests must run)", skipMsg)
	case skipMsg != "":
		t.Skipf("pgtest: %s", skipMsg)
	case setupErr != nil:
		t.Fatalf("pgtest: %v", setupErr)
	}
}

func start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	raw := os.Getenv("TEST_POSTGRES_URL")
	if raw == "" {
		img, why := testimage.Find(ctx, testimage.Postgres)
		if img == "" {
			skipMsg = why
			return nil
		}
		var err error
		if raw, err = runContainer(ctx, img); err != nil {
			return err
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("TEST_POSTGRES_URL: %w", err)
	}
	admin = u
	name := "tmpl_" + randomHex(8)
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	template = name
	tu := *admin
	tu.Path = "/" + name
	r, err := migrate.Open(tu.String(), time.Minute, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Up(ctx)
}

func runContainer(ctx context.Context, img string) (string, error) {
	c, err := tcpostgres.Run(ctx, img,
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.WithUsername("postgres"),
		tcpostgres.WithPassword("postgres"),
		testcontainers.WithLabels(map[string]string{"docker-examples.helper": "api-pgtest"}),
		// Debian's server logs "ready to accept connections" once, the
		// official image twice: wait until a query answers instead.
		testcontainers.WithWaitStrategy(wait.ForSQL("5432/tcp", "pgx", func(host string, port network.Port) string {
			return fmt.Sprintf("postgres://postgres:postgres@%s/postgres?sslmode=disable",
				net.JoinHostPort(host, port.Port()))
		}).WithStartupTimeout(90*time.Second)),
	)
	if c != nil {
		ctr = c
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", img, err)
	}
	return c.ConnectionString(ctx, "sslmode=disable")
}

func adminConn(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	return conn
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
