package metrics_test

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	return string(b)
}

func TestQueriesAndPoolAreCounted(t *testing.T) {
	m := metrics.New()
	cfg, err := pgxpool.ParseConfig(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = m.QueryTracer()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	m.RegisterPool(pool)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT count(*) FROM items"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, m)
	// SELECT 1, BEGIN, SELECT count, COMMIT.
	if !strings.Contains(out, "\napi_db_queries_total 4\n") {
		t.Errorf("want api_db_queries_total 4 in:\n%s", grep(out, "api_db_queries_total"))
	}
	if !regexp.MustCompile(`\napi_pgxpool_total_conns [1-9]`).MatchString(out) ||
		!regexp.MustCompile(`\napi_pgxpool_acquires_total [1-9]`).MatchString(out) {
		t.Errorf("pool statistics missing or zero:\n%s", grep(out, "api_pgxpool"))
	}
	if !strings.Contains(out, `api_build_info{commit="unknown",goversion="go`) {
		t.Errorf("no build info:\n%s", grep(out, "api_build_info"))
	}
}

func grep(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMadeUpMethodsShareOneSeries: a client sending methods of its own
// choosing adds one series ("other"), not one per method.
func TestMadeUpMethodsShareOneSeries(t *testing.T) {
	m := metrics.New()
	for _, method := range []string{"GET", "JUNK1", "JUNK2", "PROPFIND", "get"} {
		m.ObserveRequest("unmatched", method, 404, time.Millisecond)
	}
	out := scrape(t, m)
	if strings.Contains(out, "JUNK") || strings.Contains(out, "PROPFIND") || strings.Contains(out, `method="get"`) {
		t.Errorf("a made-up method is a label value:\n%s", out)
	}
	for _, want := range []string{
		`api_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`api_http_requests_total{method="other",route="unmatched",status="404"} 4`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}
