package cache_test

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
)

type item struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// db stands in for PostgreSQL: one item whose name changes on write, and a
// count of queries.
type db struct {
	mu      sync.Mutex
	it      item
	queries atomic.Int64
}

func (d *db) load(context.Context) (item, error) {
	d.queries.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.it, nil
}

func (d *db) write(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.it.Name = name
	d.it.Version++
}

type replica struct {
	c   *cache.Cache
	reg *prometheus.Registry
}

// newReplica is one API instance's cache on the shared Redis.
func newReplica(t *testing.T, r *faultredis.Redis) replica {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := cache.New(r.Client(t), cache.Options{
		TTL:        time.Minute,
		BypassFor:  50 * time.Millisecond,
		RetryEvery: 20 * time.Millisecond,
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return replica{c: c, reg: reg}
}

// count is how many lookups this replica counted with result.
func (rp replica) count(t *testing.T, result string) int {
	t.Helper()
	mfs, err := rp.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					total += int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return total
}

func get(t *testing.T, rp replica, d *db, k cache.Key) item {
	t.Helper()
	got, err := cache.Get(context.Background(), rp.c, k, d.load)
	if err != nil {
		t.Fatalf("Get(%s): %v", k, err)
	}
	return got
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReadThroughHitAndMiss(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "postgres", Version: 1}}
	k := cache.ItemKey("items", "1")

	first := get(t, rp, d, k)
	second := get(t, rp, d, k)
	if diff := cmp.Diff(d.it, second); diff != "" {
		t.Errorf("cached item differs (-db +cache):\n%s", diff)
	}
	if first != second {
		t.Errorf("first read %+v, second %+v", first, second)
	}
	if got := d.queries.Load(); got != 1 {
		t.Errorf("database queries = %d, want 1 (second read from cache)", got)
	}
	if hits, misses := rp.count(t, cache.ResultHit), rp.count(t, cache.ResultMiss); hits != 1 || misses != 1 {
		t.Errorf("hits, misses = %d, %d; want 1, 1", hits, misses)
	}
}

func TestListKeysIgnoreParameterOrder(t *testing.T) {
	a := cache.ListKey("items", url.Values{"limit": {"10"}, "label": {"db"}})
	b := cache.ListKey("items", url.Values{"label": {"db"}, "limit": {"10"}})
	c := cache.ListKey("items", url.Values{"label": {"web"}, "limit": {"10"}})
	if a != b {
		t.Errorf("same query in another order: keys %s and %s differ", a, b)
	}
	if a == c {
		t.Errorf("different queries share key %s", a)
	}
}

func TestWriteOnOneReplicaInvalidatesAll(t *testing.T) {
	r := faultredis.New(t)
	r1, r2 := newReplica(t, r), newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "old", Version: 1}}
	ik := cache.ItemKey("items", "1")
	lk := cache.ListKey("items", url.Values{"limit": {"10"}})
	listLoad := func(ctx context.Context) ([]item, error) {
		it, err := d.load(ctx)
		return []item{it}, err
	}

	get(t, r1, d, ik)
	get(t, r2, d, ik) // both replicas have seen the cached item
	if _, err := cache.Get(context.Background(), r2.c, lk, listLoad); err != nil {
		t.Fatal(err)
	}

	d.write("new") // replica 1 writes...
	if err := r1.c.Invalidate(context.Background(), "items"); err != nil {
		t.Fatal(err)
	}

	// ...and no replica serves the old item or the old page afterwards.
	for i, rp := range []replica{r1, r2} {
		if got := get(t, rp, d, ik); got.Name != "new" {
			t.Errorf("replica %d item after write = %+v, want name new", i+1, got)
		}
	}
	page, err := cache.Get(context.Background(), r2.c, lk, listLoad)
	if err != nil {
		t.Fatal(err)
	}
	if page[0].Name != "new" {
		t.Errorf("replica 2 list page after write = %+v, want name new", page)
	}
}

// A read that loaded the old row just before a write and stores it just
// after must not put the old value back where later reads find it.
func TestSlowReaderCannotResurrectOldValue(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "old", Version: 1}}
	k := cache.ItemKey("items", "1")

	loaded := make(chan struct{})
	release := make(chan struct{})
	slowLoad := func(ctx context.Context) (item, error) {
		it, err := d.load(ctx) // reads "old"
		close(loaded)
		<-release // the write and its invalidation happen now
		return it, err
	}
	done := make(chan item)
	go func() {
		got, err := cache.Get(context.Background(), rp.c, k, slowLoad)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	<-loaded
	d.write("new")
	if err := rp.c.Invalidate(context.Background(), "items"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if got := <-done; got.Name != "old" {
		t.Fatalf("the slow read itself = %+v, want the old value it loaded", got)
	}
	if got := get(t, rp, d, k); got.Name != "new" {
		t.Errorf("read after the write = %+v, want name new", got)
	}
}

func TestConcurrentMissesShareOneQuery(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "postgres"}}
	k := cache.ItemKey("items", "1")
	const n = 20

	load := func(ctx context.Context) (item, error) {
		// Hold the load until every caller has joined it.
		deadline := time.Now().Add(10 * time.Second)
		for cache.Waiters(rp.c) < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return d.load(ctx)
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if _, err := cache.Get(context.Background(), rp.c, k, load); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := d.queries.Load(); got != 1 {
		t.Errorf("database queries for %d concurrent misses = %d, want 1", n, got)
	}
}

func TestLoaderErrorsAreNotCached(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r)
	k := cache.ItemKey("items", "missing")
	errNotFound := errors.New("not found")
	calls := 0
	load := func(context.Context) (item, error) { calls++; return item{}, errNotFound }
	for range 2 {
		if _, err := cache.Get(context.Background(), rp.c, k, load); !errors.Is(err, errNotFound) {
			t.Fatalf("Get error = %v, want the loader's", err)
		}
	}
	if calls != 2 {
		t.Errorf("loader calls = %d, want 2", calls)
	}
}

func TestRedisDownFallsThroughAndRecovers(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "postgres"}}
	k := cache.ItemKey("items", "1")
	get(t, rp, d, k)

	r.Stop()
	before := d.queries.Load()
	for range 3 {
		if got := get(t, rp, d, k); got.Name != "postgres" {
			t.Fatalf("read with Redis down = %+v", got)
		}
	}
	if got := d.queries.Load() - before; got != 3 {
		t.Errorf("database queries with Redis down = %d, want 3 (every read falls through)", got)
	}
	if rp.count(t, cache.ResultError) == 0 {
		t.Error("no read was counted as a cache error while Redis was down")
	}

	r.Start()
	eventually(t, "reads to hit the cache again", func() bool {
		h := rp.count(t, cache.ResultHit)
		get(t, rp, d, k)
		return rp.count(t, cache.ResultHit) > h
	})
}

// A write made while Redis is unreachable: the writer bypasses its cache at
// once, retries the invalidation, and once Redis is back every replica reads
// the new value.
func TestInvalidationFailureIsRetried(t *testing.T) {
	r := faultredis.New(t)
	r1, r2 := newReplica(t, r), newReplica(t, r)
	d := &db{it: item{ID: "1", Name: "old"}}
	k := cache.ItemKey("items", "1")
	get(t, r1, d, k)
	get(t, r2, d, k)

	r.Stop()
	d.write("new")
	if err := r1.c.Invalidate(context.Background(), "items"); err == nil {
		t.Fatal("Invalidate with Redis down returned nil")
	}
	if got := get(t, r1, d, k); got.Name != "new" {
		t.Errorf("writer's read after its write = %+v, want new", got)
	}

	r.Start()
	eventually(t, "the retried invalidation to reach replica 2", func() bool {
		return get(t, r2, d, k).Name == "new"
	})
	// And the cache is used again on the writer once the retry succeeded.
	eventually(t, "the writer to hit its cache again", func() bool {
		h := r1.count(t, cache.ResultHit)
		got := get(t, r1, d, k)
		if got.Name != "new" {
			t.Fatalf("writer read %+v after recovery", got)
		}
		return r1.count(t, cache.ResultHit) > h
	})
}
