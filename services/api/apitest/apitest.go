// Package apitest runs the real api in a test of another service: the
// api's own Run on a free port, on a fresh, migrated PostgreSQL database and
// a flushed Redis database of the test's own (see pgtest and redistest for
// where those servers come from, when the test is skipped, and when it fails
// under CI=true). A test binary that uses it calls Stop from TestMain:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		apitest.Stop()
//		os.Exit(code)
//	}
package apitest

import (
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/servetest"
	"github.com/docker-examples/stack/services/api/internal/app"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// AdminUser is the browser account's user name (the api's default).
const AdminUser = "admin"

// Start runs the api for t and returns its base URL ("http://127.0.0.1:PORT").
// adminPassword is the browser account's password. env adds to or overrides
// the api's environment (PORT, DATABASE_URL, REDIS_URL, ADMIN_PASSWORD,
// SHUTDOWN_DRAIN=0s, ENRICH=off). The api stops when t ends; t fails if it does not
// stop cleanly.
func Start(t testing.TB, adminPassword string, env map[string]string) string {
	t.Helper()
	full := map[string]string{
		"PORT":           "0",
		"DATABASE_URL":   pgtest.URL(t),
		"REDIS_URL":      redistest.URL(t),
		"ADMIN_PASSWORD": adminPassword,
		"SHUTDOWN_DRAIN": "0s",
		// Items in tests name Docker Hub images: no enrichment worker, so
		// nothing leaves the machine, unless env turns it on (ENRICH=on,
		// with REGISTRY_INSECURE, GITHUB_API_URL pointing at local servers).
		"ENRICH": "off",
	}
	for k, v := range env {
		full[k] = v
	}
	base, done, stop := servetest.Start(t, app.Run, full)
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("apitest: the api stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("apitest: the api did not stop within 30s")
		}
	})
	return base
}

// Stop removes the PostgreSQL and Redis containers this test binary started,
// if any. Call it from TestMain after m.Run.
func Stop() {
	pgtest.Stop()
	redistest.Stop()
}
