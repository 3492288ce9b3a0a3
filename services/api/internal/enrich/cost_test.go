package enrich_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/store"
	"github.com/docker-examples/stack/services/api/registrytest"
)

// BenchmarkCheck100Items measures what checking 100 items costs: registry
// requests, GitHub requests and seconds, for a first check and for a
// second one where nothing changed (HEAD only, 304s). GitHub costs three
// requests per repository (repository, default branch, latest release);
// github-304-again counts the answers of the second check that spent no
// quota. The registry is distribution in process on loopback, so the
// seconds are this machine's work, not the Internet's latency.
//
//	go test -run '^$' -bench Check100Items -benchtime 1x -count 3 ./services/api/internal/enrich/
func BenchmarkCheck100Items(b *testing.B) {
	reg := registrytest.Start(b, registrytest.Options{})
	// 20 repositories with 5 version tags each; items use the oldest tag
	// of each, so every item has updates to find in a 5-tag list.
	for r := range 20 {
		for v := range 5 {
			reg.Push(b, fmt.Sprintf("lib/app%d:1.%d", r, v), registrytest.Image(b, t0))
		}
	}
	// GitHub answers each repository's three documented requests
	// (repository, default branch, latest release) with an ETag, and 304
	// to a request that sends it back.
	var ghHits, gh304 atomic.Int64
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ghHits.Add(1)
		if r.Header.Get("If-None-Match") == `"e"` {
			gh304.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Content-Type", "application/json")
		repo, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/repos/acme/"), "/")
		switch rest {
		case "":
			fmt.Fprintf(w, `{"full_name":"acme/%s","stargazers_count":1,"archived":false,"default_branch":"main","pushed_at":"2026-10-01T00:00:00Z"}`, repo)
		case "branches/main":
			fmt.Fprint(w, `{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d","commit":{"committer":{"date":"2026-09-30T00:00:00Z"}}}}`)
		case "releases/latest":
			fmt.Fprint(w, `{"tag_name":"v1.0.0","published_at":"2026-10-02T00:00:00Z"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found"}`)
		}
	}))
	defer gh.Close()
	docs := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer docs.Close()

	for range b.N {
		st := store.New(pgtest.New(b))
		w, rc := newWorker(b, st, reg.Host, gh.URL, nil, 4)
		w.ID, w.Poll = "bench", 10*time.Millisecond
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
			return it.Registry.State == inventory.StateOK && it.GitHub.State == inventory.StateOK && it.GitHub.PushedAt != nil
		})
		first := time.Since(start)
		r1, g1, n1 := rc.Requests(), ghHits.Load(), gh304.Load()

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
		r2, g2, n2 := rc.Requests()-r1, ghHits.Load()-g1, gh304.Load()-n1
		b.ReportMetric(float64(r1), "registry-req-first")
		b.ReportMetric(float64(g1), "github-req-first")
		b.ReportMetric(first.Seconds(), "s-first")
		b.ReportMetric(float64(r2), "registry-req-again")
		b.ReportMetric(float64(g2), "github-req-again")
		b.ReportMetric(float64(n2), "github-304-again")
		b.ReportMetric(second.Seconds(), "s-again")
		ghHits.Store(0)
		gh304.Store(0)
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
