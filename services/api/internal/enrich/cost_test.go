package enrich_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/enrich"
	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/linkcheck"
	"github.com/docker-examples/stack/services/api/internal/netguard"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/registry"
	"github.com/docker-examples/stack/services/api/internal/store"
	"github.com/docker-examples/stack/services/api/registrytest"
)

// BenchmarkCheck100Items measures what checking 100 items costs: registry
// requests, GitHub requests and seconds, for a first check and for a
// second one where nothing changed (HEAD only, 304s). The registry is
// distribution in process on loopback, so the seconds are this machine's
// work, not the Internet's latency.
//
//	go test -run '^$' -bench Check100Items -benchtime 1x ./services/api/internal/enrich/
func BenchmarkCheck100Items(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Options{})
	// 20 repositories with 5 version tags each; items use the oldest tag
	// of each, so every item has updates to find in a 5-tag list.
	for r := range 20 {
		for v := range 5 {
			reg.Push(b, fmt.Sprintf("lib/app%d:1.%d", r, v), registrytest.Image(b, t0))
		}
	}
	var ghHits atomic.Int64
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ghHits.Add(1)
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Type", "application/json")
		if len(r.URL.Path) > 16 && r.URL.Path[len(r.URL.Path)-15:] == "/releases/latest" {
			fmt.Fprint(w, `{"tag_name":"v1.0.0","published_at":"2026-10-02T00:00:00Z"}`)
			return
		}
		fmt.Fprint(w, `{"full_name":"acme/x","stargazers_count":1,"archived":false,"pushed_at":"2026-10-01T00:00:00Z"}`)
	}))
	defer gh.Close()
	docs := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer docs.Close()

	for range b.N {
		st := store.New(pgtest.New(b))
		rc, _ := registry.New(registry.Config{Insecure: []string{reg.Host}})
		ghc, _ := github.New(gh.URL, "", nil)
		guard := &netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		w := &enrich.Worker{Store: st, Registry: rc, GitHub: ghc, Links: linkcheck.New(linkcheck.Config{Guard: guard, PerHost: 4}),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ID: "bench", Poll: 10 * time.Millisecond}
		var ids []uuid.UUID
		for i := range 100 {
			in := inventory.Input{Name: fmt.Sprintf("item-%d", i), Image: fmt.Sprintf("%s/lib/app%d:1.0", reg.Host, i%20),
				SourceURL: fmt.Sprintf("https://github.com/acme/repo%d", i), DocsURLs: []string{docs.URL + "/a", docs.URL + "/b"}}
			it, err := in.Normalize()
			if err != nil {
				b.Fatal(err)
			}
			created, err := st.CreateItem(context.Background(), it)
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, created.ID)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		b.ResetTimer()
		start := time.Now()
		go func() { done <- w.Run(ctx) }()
		waitAll(b, st, ids, func(it inventory.Item) bool {
			return it.Registry.State == inventory.StateOK && it.GitHub.State == inventory.StateOK
		})
		first := time.Since(start)
		r1, g1 := rc.Requests(), ghHits.Load()

		before := map[uuid.UUID]time.Time{}
		for _, id := range ids {
			it, _ := st.GetItem(ctx, id)
			before[id] = *it.Registry.CheckedAt
			if _, err := st.EnqueueRefresh(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		start = time.Now()
		waitAll(b, st, ids, func(it inventory.Item) bool { return it.Registry.CheckedAt.After(before[it.ID]) })
		second := time.Since(start)
		b.StopTimer()
		cancel()
		<-done
		r2, g2 := rc.Requests()-r1, ghHits.Load()-g1
		b.ReportMetric(float64(r1), "registry-req-first")
		b.ReportMetric(float64(g1), "github-req-first")
		b.ReportMetric(first.Seconds(), "s-first")
		b.ReportMetric(float64(r2), "registry-req-again")
		b.ReportMetric(float64(g2), "github-req-again")
		b.ReportMetric(second.Seconds(), "s-again")
		ghHits.Store(0)
	}
}

func waitAll(b *testing.B, st *store.Store, ids []uuid.UUID, done func(inventory.Item) bool) {
	deadline := time.Now().Add(5 * time.Minute)
	for _, id := range ids {
		for {
			it, err := st.GetItem(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			if done(it) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("item %s not checked: %+v %+v", id, it.Registry, it.GitHub)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
