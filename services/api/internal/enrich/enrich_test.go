package enrich_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/platform/telemetry"
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

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// branchPushed is the fake default branch's head commit date.
var branchPushed = time.Date(2026, 9, 29, 8, 0, 0, 0, time.UTC)

type recorder struct {
	mu     sync.Mutex
	events []inventory.Event
}

func (r *recorder) Publish(_ context.Context, e inventory.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// fakeGitHub answers the documented repository and release shapes.
func fakeGitHub(t *testing.T, hits *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/repos/acme/app":
			if r.Header.Get("If-None-Match") == `"r1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"r1"`)
			fmt.Fprint(w, `{"full_name":"acme/app","stargazers_count":42,"archived":true,"default_branch":"main","pushed_at":"2026-10-01T00:00:00Z","license":{"key":"apache-2.0","name":"Apache License 2.0","spdx_id":"Apache-2.0"}}`)
		case "/repos/acme/app/branches/main":
			if r.Header.Get("If-None-Match") == `"b1"` {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", `"b1"`)
			fmt.Fprint(w, `{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d","commit":{"committer":{"name":"GitHub","date":"2026-09-29T08:00:00Z"}}},"protected":false}`)
		case "/repos/acme/app/releases/latest":
			fmt.Fprint(w, `{"tag_name":"v2.1.0","published_at":"2026-10-02T00:00:00Z"}`)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type env struct {
	st     *store.Store
	worker *enrich.Worker
	events *recorder
	reg    *registrytest.Registry
	docs   string
	gh     atomic.Int64
}

func setup(t *testing.T) *env { t.Helper(); return setupTraced(t, nil) }

// setupTraced is setup with the worker and its clients tracing to tel
// (nil: off).
func setupTraced(t *testing.T, tel *telemetry.Telemetry) *env {
	t.Helper()
	e := &env{st: store.New(pgtest.New(t)), events: &recorder{}}
	e.reg = registrytest.Start(t, registrytest.Options{})
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(docs.Close)
	e.docs = docs.URL
	e.worker, _ = newWorker(t, e.st, e.reg.Host, fakeGitHub(t, &e.gh), tel.ExternalTransport, 0)
	e.worker.Events = e.events
	e.worker.Tracer = tel.Tracer()
	e.worker.ID = "test-replica"
	e.worker.Poll = 20 * time.Millisecond
	return e
}

// newWorker is a worker on st that logs nowhere, with its clients: the
// registry at regHost over plain HTTP, GitHub at ghURL and links on
// loopback only, perHost at once per host (0: the checker's default).
// wrap, when set, wraps every client's transport; without it GitHub gets
// its client's default. The registry client is returned too, for its
// request count.
func newWorker(tb testing.TB, st *store.Store, regHost, ghURL string, wrap func(http.RoundTripper) http.RoundTripper, perHost int) (*enrich.Worker, *registry.Client) {
	tb.Helper()
	rc, err := registry.New(registry.Config{Insecure: []string{regHost}, WrapTransport: wrap})
	if err != nil {
		tb.Fatal(err)
	}
	var hc *http.Client
	if wrap != nil {
		hc = &http.Client{Transport: wrap(nil)}
	}
	gh, err := github.New(ghURL, "", hc)
	if err != nil {
		tb.Fatal(err)
	}
	guard := &netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	links := linkcheck.New(linkcheck.Config{Guard: guard, PerHost: perHost, WrapTransport: wrap})
	return &enrich.Worker{Store: st, Registry: rc, GitHub: gh, Links: links,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, rc
}

func (e *env) create(t *testing.T, in inventory.Input) inventory.Item {
	t.Helper()
	it, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	created, err := e.st.CreateItem(context.Background(), it)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

// waitFor polls the item until cond holds, with a deadline.
func (e *env) waitFor(t *testing.T, id uuid.UUID, cond func(inventory.Item) bool) inventory.Item {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		it, err := e.st.GetItem(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(it) {
			return it
		}
		if time.Now().After(deadline) {
			t.Fatalf("item never reached the expected state: registry %+v github %+v links %+v", it.Registry, it.GitHub, it.Links)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWorkerEnrichesCreatedItems(t *testing.T) {
	e := setup(t)
	e.reg.Push(t, "acme/app:1.2", registrytest.Image(t, t0))
	e.reg.Push(t, "acme/app:1.3", registrytest.Image(t, t0.Add(time.Hour)))
	it := e.create(t, inventory.Input{Name: "app", Image: e.reg.Host + "/acme/app:1.2",
		SourceURL: "https://github.com/acme/app", DocsURLs: []string{e.docs + "/ok", e.docs + "/gone"}})
	if it.Registry == nil || it.Registry.State != inventory.StatePending || it.GitHub == nil || it.GitHub.State != inventory.StatePending {
		t.Fatalf("a new item's sources are not pending: %+v %+v", it.Registry, it.GitHub)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.worker.Run(ctx) }()
	defer func() { cancel(); <-done }()

	got := e.waitFor(t, it.ID, func(it inventory.Item) bool { return it.Registry.State != inventory.StatePending })
	if got.Registry.State != inventory.StateOK || got.Registry.Update == nil || got.Registry.Update.NewestInMajor != "1.3" {
		t.Errorf("registry = %+v (update %+v)", got.Registry, got.Registry.Update)
	}
	if got.GitHub == nil || got.GitHub.State != inventory.StateOK || !got.GitHub.Archived || got.GitHub.Stars != 42 {
		t.Errorf("github = %+v", got.GitHub)
	}
	if p := got.GitHub.PushedAt; p == nil || !p.Equal(branchPushed) || got.GitHub.DefaultBranch != "main" {
		t.Errorf("github pushed_at = %v on %q, want the default branch's %v", p, got.GitHub.DefaultBranch, branchPushed)
	}
	if len(got.Links) != 3 || got.Links[0].State != inventory.LinkOK || got.Links[1].State != inventory.LinkBroken {
		t.Errorf("links = %+v", got.Links)
	}
	// The event follows the stored results: the item can be read before
	// the worker has published it.
	for deadline := time.Now().Add(10 * time.Second); e.events.count() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("no event published for the stored results")
			break
		}
	}

	// The filters find it.
	for name, q := range map[string]inventory.ListQuery{
		"update=available": {Limit: 10, UpdateAvailable: true},
		"archived=true":    {Limit: 10, Archived: ptr(true)},
		"links=broken":     {Limit: 10, LinksBroken: true},
	} {
		page, err := e.st.ListItems(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || page.Items[0].ID != it.ID {
			t.Errorf("%s: %d items", name, len(page.Items))
		}
	}
	page, _ := e.st.ListItems(context.Background(), inventory.ListQuery{Limit: 10, Archived: ptr(false)})
	if len(page.Items) != 0 {
		t.Errorf("archived=false listed %d items", len(page.Items))
	}

	// A refresh after the tag moved reports the drift; the GitHub
	// request is conditional (304).
	e.reg.Push(t, "acme/app:1.2", registrytest.Image(t, t0.Add(48*time.Hour)))
	if _, err := e.st.EnqueueRefresh(context.Background(), it.ID); err != nil {
		t.Fatal(err)
	}
	got = e.waitFor(t, it.ID, func(it inventory.Item) bool {
		return it.Registry.Update != nil && it.Registry.Update.DigestChanged
	})
	if !got.Registry.Update.Available {
		t.Errorf("update = %+v", got.Registry.Update)
	}
	if p := got.GitHub.PushedAt; p == nil || !p.Equal(branchPushed) {
		t.Errorf("after a refresh answered 304: github pushed_at = %v, want %v kept", p, branchPushed)
	}

	// Changing the image drops its facts at once and checks again.
	_, err := e.st.UpdateItem(context.Background(), it.ID, func(cur inventory.Item) (inventory.Item, error) {
		in := cur.Input()
		in.Image = e.reg.Host + "/acme/missing:1.0"
		return in.Normalize()
	})
	if err != nil {
		t.Fatal(err)
	}
	got = e.waitFor(t, it.ID, func(it inventory.Item) bool { return it.Registry.State == inventory.StateError })
	if got.Registry.Error == "" || got.Registry.CheckedAt == nil {
		t.Errorf("a missing image is reported without a reason: %+v", got.Registry)
	}
}

// TestTagPatternsNarrowUpdates pushes real tags and checks that an
// item's patterns decide which of them are updates, and that changing a
// pattern recomputes the update at once.
func TestTagPatternsNarrowUpdates(t *testing.T) {
	e := setup(t)
	for i, tag := range []string{"17.2-alpine", "17.3-alpine", "17.4-alpine", "17.5", "18.1-alpine", "18.2-bookworm"} {
		e.reg.Push(t, "lib/pg:"+tag, registrytest.Image(t, t0.Add(time.Duration(i)*time.Hour)))
	}
	image := e.reg.Host + "/lib/pg:17.2-alpine"
	plain := e.create(t, inventory.Input{Name: "pg-plain", Image: image})
	// Alpine tags of major 17 only, and 17.4-alpine is a release the
	// user has ruled out.
	narrowed := e.create(t, inventory.Input{Name: "pg-narrowed", Image: image,
		TagInclude: `^17\.\d+-alpine$`, TagExclude: `17\.4-alpine`})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.worker.Run(ctx) }()
	defer func() { cancel(); <-done }()

	checked := func(it inventory.Item) bool { return it.Registry.State != inventory.StatePending }
	for _, tt := range []struct {
		id                    uuid.UUID
		newestInMajor, newest string
	}{
		{plain.ID, "17.4-alpine", "18.1-alpine"},
		{narrowed.ID, "17.3-alpine", "17.3-alpine"},
	} {
		got := e.waitFor(t, tt.id, checked)
		up := got.Registry.Update
		if got.Registry.State != inventory.StateOK || up == nil || !up.Available ||
			up.NewestInMajor != tt.newestInMajor || up.Newest != tt.newest {
			t.Errorf("%s: registry %+v update %+v, want newest_in_major %s newest %s",
				got.Name, got.Registry, up, tt.newestInMajor, tt.newest)
		}
	}

	// Excluding the only candidate left: no update, and the list filter
	// no longer shows the item.
	_, err := e.st.UpdateItem(context.Background(), narrowed.ID, func(cur inventory.Item) (inventory.Item, error) {
		in := cur.Input()
		in.TagExclude = `17\.[34]-alpine`
		return in.Normalize()
	})
	if err != nil {
		t.Fatal(err)
	}
	got := e.waitFor(t, narrowed.ID, checked)
	if up := got.Registry.Update; up == nil || up.Available || up.NewestInMajor != "" || up.Newest != "" {
		t.Errorf("with every candidate excluded: update %+v, want none", up)
	}
	page, err := e.st.ListItems(context.Background(), inventory.ListQuery{Limit: 10, UpdateAvailable: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != plain.ID {
		t.Errorf("update=available lists %d items, want only %s", len(page.Items), plain.Name)
	}
}

func TestOneReplicaPerJobAndDeadReplicaTakenOver(t *testing.T) {
	e := setup(t)
	e.reg.Push(t, "acme/app:1.0", registrytest.Image(t, t0))
	var ids []uuid.UUID
	for i := range 20 {
		ids = append(ids, e.create(t, inventory.Input{Name: fmt.Sprintf("app-%d", i), Image: e.reg.Host + "/acme/app:1.0"}).ID)
	}
	// Two replicas claim concurrently: no job is handed out twice.
	var mu sync.Mutex
	seen := map[uuid.UUID]string{}
	var wg sync.WaitGroup
	for _, replica := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := e.st.ClaimJobs(context.Background(), replica, 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					if other, dup := seen[j.ItemID]; dup {
						t.Errorf("job %s claimed by %s and %s", j.ItemID, other, replica)
					}
					seen[j.ItemID] = replica
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != len(ids) {
		t.Fatalf("claimed %d of %d jobs", len(seen), len(ids))
	}

	// Replica "a" died holding its jobs; with a lease that has run out
	// they are claimable again, and a live worker finishes them.
	jobs, err := e.st.ClaimJobs(context.Background(), "c", 100, time.Minute)
	if err != nil || len(jobs) != 0 {
		t.Fatalf("leased jobs were handed out again: %d, %v", len(jobs), err)
	}
	expireLeases(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.worker.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, id := range ids {
		e.waitFor(t, id, func(it inventory.Item) bool { return it.Registry.State == inventory.StateOK })
	}
}

func expireLeases(t *testing.T, e *env) {
	t.Helper()
	// The test's stand-in for time passing: the leases end now.
	if err := e.st.ExpireLeasesForTest(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
