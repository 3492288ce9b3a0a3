package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/platform/benchcpu"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// discardWriter is a ResponseWriter that keeps nothing but its headers,
// so the profile of a benchmark shows the handler's cost, not a
// recorder's.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// benchLog is the api's logger writing to a file, as make bench-api sends
// the api's stdout, through cmd/api's buffered writer.
func benchLog(b *testing.B) *slog.Logger {
	out, err := os.Create(filepath.Join(b.TempDir(), "api.log"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = out.Close() })
	logOut := logging.NewBufferedWriter(out, 100*time.Millisecond)
	b.Cleanup(func() { _ = logOut.Close() })
	return logging.New(logOut, "api", 0)
}

// benchHandler is the API as cmd/api wires it for reads: the Redis cache
// around the store (here in memory), the Redis rate limiter by client
// address with a limit never reached, the access log buffered to a file
// (as make bench-api sends stdout), metrics. It returns the id of a seeded item.
func benchHandler(b *testing.B) (http.Handler, string) {
	b.Helper()
	rdb := redistest.New(b)
	keys, err := auth.NewAPIKeys(testKey)
	if err != nil {
		b.Fatal(err)
	}
	log := benchLog(b)
	c, err := cache.New(rdb, cache.Options{Log: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	limiter, err := ratelimit.New(rdb, ratelimit.Options{Log: log})
	if err != nil {
		b.Fatal(err)
	}
	proxies := forwarded.New(nil)
	limit := ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: 1e9}
	e := newEnv(b, func(d *httpapi.Deps) {
		d.Log = log
		d.Auth = auth.Chain{keys}
		d.Items = cache.NewItems(d.Items, c)
		d.Proxies = proxies
		d.CORSOrigins = nil
		d.RateLimit = httpapi.RateLimit{Limiter: limiter, PerIP: limit, PerKey: limit}
		d.RequestTimeout = 15 * time.Second // REQUEST_TIMEOUT's default
	})
	var id string
	for i := range 40 {
		it, err := e.store.CreateItem(b.Context(), inventory.Item{
			Name: fmt.Sprintf("seed-%d", i), Image: "postgres:17-alpine",
			ImageNormalized: "docker.io/library/postgres:17-alpine",
			Description:     fmt.Sprintf("primary database of the stack number %d", i),
			Labels:          []string{"db", "seed"}, SourceURL: "https://github.com/docker-library/postgres",
			DocsURLs: []string{"https://hub.docker.com/_/postgres"},
		})
		if err != nil {
			b.Fatal(err)
		}
		id = it.ID.String()
	}
	return e.h, id
}

// benchServe runs GET path through h b.N times, as one client would.
func benchServe(b *testing.B, h http.Handler, path string) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = "192.0.2.7:41000"
	r.Header.Set("User-Agent", "wrk")
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r) // fills the cache
	if w.status != http.StatusOK {
		b.Fatalf("GET %s: status %d", path, w.status)
	}
	b.ReportAllocs()
	cpu := benchcpu.Start()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("GET %s: status %d", path, w.status)
		}
	}
	b.StopTimer()
	cpu.Report(b)
}

// BenchmarkCachedRead is GET /api/inventory/{id}, a cache hit, with every
// middleware on. The Redis round trips (limiter, cache) are real; run it
// with -cpuprofile to see the API's own CPU per request beside them.
func BenchmarkCachedRead(b *testing.B) {
	h, id := benchHandler(b)
	benchServe(b, h, "/api/inventory/"+id)
}

// BenchmarkCachedList is GET /api/inventory?limit=20, a cached page.
func BenchmarkCachedList(b *testing.B) {
	h, _ := benchHandler(b)
	benchServe(b, h, "/api/inventory?limit=20")
}

// benchServer runs GET path against h behind a real net/http server on
// loopback, from 8 keep-alive connections: the profile's
// net/http.(*conn).serve is then the server's whole CPU per request, as
// make bench-api sees it from outside.
func benchServer(b *testing.B, h http.Handler, path string) {
	b.Helper()
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func() error {
		res, err := client.Get(srv.URL + path)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", path, res.StatusCode)
		}
		return nil
	}
	if err := get(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4)
	cpu := benchcpu.Start()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := get(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	cpu.Report(b)
}

// BenchmarkServedCachedRead is BenchmarkCachedRead behind net/http.
func BenchmarkServedCachedRead(b *testing.B) {
	h, id := benchHandler(b)
	benchServer(b, h, "/api/inventory/"+id)
}

// BenchmarkServedCachedList is BenchmarkCachedList behind net/http.
func BenchmarkServedCachedList(b *testing.B) {
	h, _ := benchHandler(b)
	benchServer(b, h, "/api/inventory?limit=20")
}

// jsonItems answers reads from JSON held in memory, as a cache hit does
// (httpapi.JSONReader), without Redis.
type jsonItems struct {
	httpapi.ItemStore
	body    []byte
	version int64
}

func (j jsonItems) GetItemJSON(context.Context, uuid.UUID) ([]byte, int64, error) {
	return j.body, j.version, nil
}

func (j jsonItems) ListItemsJSON(context.Context, inventory.ListQuery) ([]byte, error) {
	return j.body, nil
}

// allowAll is a limiter that allows everything and knows its budget, as
// the Redis limiter answers with a limit never reached.
type allowAll struct{}

func (allowAll) Allow(_ context.Context, _ string, l ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{Known: true, Allowed: true, Limit: l, Remaining: l.Burst - 1, ResetAfter: time.Microsecond}, nil
}

// BenchmarkOwnCachedRead is BenchmarkCachedRead without Redis: the cache
// hit and the limiter's answer come from memory, so ns/op and a CPU
// profile are the api's own code (echo, every middleware, headers, ETag,
// access log, metrics) and nothing else. It needs no server.
func BenchmarkOwnCachedRead(b *testing.B) {
	keys, err := auth.NewAPIKeys(testKey)
	if err != nil {
		b.Fatal(err)
	}
	log := benchLog(b)
	it := inventory.Item{
		ID: uuid.New(), Name: "seed-1", Image: "postgres:17-alpine",
		ImageNormalized: "docker.io/library/postgres:17-alpine",
		Description:     "primary database of the stack number 1",
		Labels:          []string{"db", "seed"}, SourceURL: "https://github.com/docker-library/postgres",
		DocsURLs: []string{"https://hub.docker.com/_/postgres"}, Version: 1,
	}
	body, err := json.Marshal(it)
	if err != nil {
		b.Fatal(err)
	}
	limit := ratelimit.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: 1e9}
	e := newEnv(b, func(d *httpapi.Deps) {
		d.Log = log
		d.Auth = auth.Chain{keys}
		d.Items = jsonItems{ItemStore: d.Items, body: body, version: it.Version}
		d.Proxies = forwarded.New(nil)
		d.CORSOrigins = nil
		d.RateLimit = httpapi.RateLimit{Limiter: allowAll{}, PerIP: limit, PerKey: limit}
		d.RequestTimeout = 15 * time.Second
	})
	benchServe(b, e.h, "/api/inventory/"+it.ID.String())
}
