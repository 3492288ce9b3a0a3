// Package cache is the API's read-through cache in Redis for item reads and
// list pages. It is shared by every replica and is an optimisation only:
// when Redis fails, the failure is logged and the read falls through to the
// loader (PostgreSQL).
//
// # Freshness
//
// A successful write must never be followed by a stale read, on any replica.
// Every key of a collection embeds the collection's current generation, a
// random token stored in Redis. Invalidate replaces the token, so every entry
// cached before it becomes unreachable at once: items and list pages alike.
// A reader that loaded old data just before a write and stores it just after
// stores it under the old generation, where no one looks: the usual race of
// "delete the key, then a slow reader puts the old value back" cannot
// happen. Tokens are random rather than counters, so a generation key that
// is evicted or lost never brings back old entries.
//
// The caller invalidates after its write commits and before it answers. When
// Invalidate fails (Redis unreachable), this replica stops reading that
// collection from the cache and retries the invalidation in the background
// until it succeeds; other replicas can't know, so entries also expire after
// Options.TTL, which bounds staleness in that one case (a Redis reachable by
// some replicas and not others, or restarted with its old data).
//
// # Concurrency
//
// Concurrent misses on one key share one load (singleflight): a cold page
// hit by many clients costs one database query per replica. The load runs
// detached from the first caller's cancellation, bounded by
// Options.LoadTimeout, so one impatient client does not fail the others.
// Each caller decodes its own copy of the value.
package cache

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"
)

// Options tune a Cache. The zero value is usable.
type Options struct {
	// Prefix starts every key, default "cache:".
	Prefix string
	// TTL bounds how long an entry lives, default 5 minutes.
	TTL time.Duration
	// LoadTimeout bounds one shared load, default 10s.
	LoadTimeout time.Duration
	// BypassFor is how long reads skip Redis after it failed, so a dead
	// Redis costs one failed call per interval instead of one per
	// request. Default 1s.
	BypassFor time.Duration
	// RetryEvery is the pause between retries of failed invalidations,
	// default 500ms.
	RetryEvery time.Duration
	// Log receives Redis failures. Default: discarded.
	Log *slog.Logger
	// Registerer receives the hit/miss counters; nil registers nothing.
	Registerer prometheus.Registerer
}

// Cache is a read-through cache. It is safe for concurrent use. Close stops
// its background retries.
type Cache struct {
	rdb  redis.UniversalClient
	opts Options
	sf   singleflight.Group

	requests *prometheus.CounterVec
	// counters holds requests' series seen, countKey to
	// prometheus.Counter: one lookup per request instead of a label
	// lookup (which validates, hashes and locks).
	counters sync.Map

	bypassUntil atomic.Int64 // unix nanoseconds
	waiters     atomic.Int64 // callers waiting on a shared load (tests use it)

	mu      sync.Mutex
	pending map[string]bool   // collections whose invalidation failed
	fails   map[string]uint64 // failed invalidations per collection, ever
	retry   chan struct{}     // wakes the retry loop

	stop context.CancelFunc
	done chan struct{}
}

// Results counted in api_cache_requests_total.
const (
	ResultHit    = "hit"
	ResultMiss   = "miss"
	ResultError  = "error"  // Redis failed; the loader answered
	ResultBypass = "bypass" // Redis skipped (recent failure or pending invalidation)
)

// New returns a Cache on rdb. It fails only if its metrics cannot be
// registered.
func New(rdb redis.UniversalClient, opts Options) (*Cache, error) {
	if opts.Prefix == "" {
		opts.Prefix = "cache:"
	}
	if opts.TTL <= 0 {
		opts.TTL = 5 * time.Minute
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 10 * time.Second
	}
	if opts.BypassFor <= 0 {
		opts.BypassFor = time.Second
	}
	if opts.RetryEvery <= 0 {
		opts.RetryEvery = 500 * time.Millisecond
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{
		rdb:  rdb,
		opts: opts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_cache_requests_total",
			Help: "Cache lookups by collection, kind (item or list) and result (hit, miss, error, bypass).",
		}, []string{"collection", "kind", "result"}),
		pending: map[string]bool{},
		fails:   map[string]uint64{},
		retry:   make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(c.requests); err != nil {
			return nil, fmt.Errorf("cache metrics: %w", err)
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	go c.retryLoop(ctx)
	return c, nil
}

// Close stops the background retries of failed invalidations. It does not
// close the Redis client.
func (c *Cache) Close() {
	c.stop()
	<-c.done
}

// Key names one cached value in a collection.
type Key struct {
	collection string
	kind       string // "item" or "list"
	id         string
}

// ItemKey is the key of one item of a collection.
func ItemKey(collection, id string) Key {
	return Key{collection: collection, kind: "item", id: id}
}

// ListKey is the key of one list page of a collection, identified by its
// query. Equal queries give equal keys whatever the parameters' order.
func ListKey(collection string, query url.Values) Key {
	sum := sha256.Sum256([]byte(query.Encode()))
	return Key{collection: collection, kind: "list", id: hex.EncodeToString(sum[:16])}
}

func (k Key) String() string { return k.collection + ":" + k.kind + ":" + k.id }

// readScript returns the collection's generation, creating it when absent,
// and the value under that generation (false when there is none).
var readScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then
  g = ARGV[1]
  redis.call('SET', KEYS[1], g)
end
return {g, redis.call('GET', ARGV[2] .. g .. ARGV[3])}
`)

func (c *Cache) genKey(collection string) string {
	return c.opts.Prefix + collection + ":gen"
}

// Get returns the value under k, calling load on a miss and caching its
// result as JSON. Errors of load are returned as they are and never cached.
// A Redis failure is logged and answered by load.
func Get[T any](ctx context.Context, c *Cache, k Key, load func(context.Context) (T, error)) (T, error) {
	var zero T
	b, hit, err := c.get(ctx, k, encoded(load))
	if err != nil {
		return zero, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		if !hit {
			return zero, fmt.Errorf("cache: decode %s: %w", k, err)
		}
		// A corrupt entry is a miss: answer from the loader.
		c.opts.Log.Warn("cache entry does not decode; loading instead", slog.String("key", k.String()), slog.Any("error", err))
		return load(ctx)
	}
	return v, nil
}

// encoded is load with its result encoded as JSON, as the cache stores it.
func encoded[T any](load func(context.Context) (T, error)) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
}

// GetJSON is Get for a caller that answers with the value's JSON encoding
// as it is (an HTTP handler): a hit is returned without being decoded. It
// returns the JSON of load's result on a miss. check is called with every
// value about to be returned; false for an entry read from Redis makes it
// a corrupt entry, answered from load as Get does. Neither check nor the
// caller may modify the bytes: a hit's are those of an immutable string.
func GetJSON[T any](ctx context.Context, c *Cache, k Key, load func(context.Context) (T, error), check func([]byte) bool) ([]byte, error) {
	loadJSON := encoded(load)
	b, hit, err := c.get(ctx, k, loadJSON)
	if err != nil {
		return nil, err
	}
	if check(b) {
		return b, nil
	}
	if hit {
		c.opts.Log.Warn("cache entry does not decode; loading instead", slog.String("key", k.String()))
		if b, err = loadJSON(ctx); err != nil {
			return nil, err
		}
		if check(b) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("cache: decode %s: the loaded value fails its check", k)
}

// get returns the encoded value and whether it came from Redis. The bytes
// may be those of an immutable string: callers never modify them.
func (c *Cache) get(ctx context.Context, k Key, load func(context.Context) ([]byte, error)) ([]byte, bool, error) {
	if c.skip(k.collection) {
		c.count(k, ResultBypass)
		b, err := c.shared(ctx, "bypass:"+k.String(), load, "")
		return b, false, err
	}
	res, err := readScript.Run(ctx, c.rdb, []string{c.genKey(k.collection)},
		newToken(), c.opts.Prefix+k.collection+":", ":"+k.kind+":"+k.id).Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		if ctx.Err() == nil {
			c.failed("cache read", k, err)
		}
		c.count(k, ResultError)
		b, err := c.shared(ctx, "bypass:"+k.String(), load, "")
		return b, false, err
	}
	gen, _ := res[0].(string)
	if s, ok := res[1].(string); ok {
		c.count(k, ResultHit)
		// The reply's own bytes, not a copy of them (a list page is tens
		// of KiB): go-redis made the string for this reply alone, and no
		// caller writes to what get returns.
		return unsafe.Slice(unsafe.StringData(s), len(s)), true, nil
	}
	c.count(k, ResultMiss)
	dataKey := c.opts.Prefix + k.collection + ":" + gen + ":" + k.kind + ":" + k.id
	b, err := c.shared(ctx, dataKey, load, dataKey)
	return b, false, err
}

// shared runs load once for all concurrent callers with the same flight
// key, then stores the result under store (if not empty).
func (c *Cache) shared(ctx context.Context, flight string, load func(context.Context) ([]byte, error), store string) ([]byte, error) {
	ch := c.sf.DoChan(flight, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.LoadTimeout)
		defer cancel()
		b, err := load(lctx)
		if err != nil {
			return nil, err
		}
		if store != "" {
			if err := c.rdb.Set(lctx, store, b, c.opts.TTL).Err(); err != nil {
				c.failed("cache write", Key{}, err)
			}
		}
		return b, nil
	})
	c.waiters.Add(1)
	defer c.waiters.Add(-1)
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Invalidate makes every cached entry of collection unreachable on every
// replica. Call it after each successful write, before answering. On error
// (already logged) the invalidation is retried in the background and this
// replica bypasses the collection's cache until it succeeds; the write
// itself stands.
func (c *Cache) Invalidate(ctx context.Context, collection string) error {
	err := c.bump(ctx, collection)
	if err != nil {
		c.opts.Log.LogAttrs(ctx, slog.LevelWarn, "cache invalidation failed; bypassing the collection until a retry succeeds",
			slog.String("collection", collection), slog.Any("error", err))
		select {
		case c.retry <- struct{}{}:
		default:
		}
		return fmt.Errorf("cache: invalidate %s: %w", collection, err)
	}
	return nil
}

// bump replaces the collection's generation. A success clears the pending
// mark only if no invalidation failed since it started: a failed one may
// cover a write committed after this token was set.
func (c *Cache) bump(ctx context.Context, collection string) error {
	c.mu.Lock()
	epoch := c.fails[collection]
	c.mu.Unlock()
	err := c.rdb.Set(ctx, c.genKey(collection), newToken(), 0).Err()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.fails[collection]++
		c.pending[collection] = true
		return err
	}
	if c.fails[collection] == epoch {
		delete(c.pending, collection)
	}
	return nil
}

// skip reports whether reads of collection must bypass Redis.
func (c *Cache) skip(collection string) bool {
	c.mu.Lock()
	p := c.pending[collection]
	c.mu.Unlock()
	return p || time.Now().UnixNano() < c.bypassUntil.Load()
}

func (c *Cache) failed(op string, k Key, err error) {
	now := time.Now()
	prev := c.bypassUntil.Swap(now.Add(c.opts.BypassFor).UnixNano())
	if prev < now.UnixNano() { // first failure of a new outage window: log once
		c.opts.Log.Warn("redis unavailable; reads fall through to the database",
			slog.String("op", op), slog.String("key", k.String()), slog.Any("error", err))
	}
}

func (c *Cache) count(k Key, result string) {
	ck := countKey{k.collection, k.kind, result}
	v, ok := c.counters.Load(ck)
	if !ok {
		v, _ = c.counters.LoadOrStore(ck, c.requests.WithLabelValues(k.collection, k.kind, result))
	}
	v.(prometheus.Counter).Inc()
}

// countKey names one series of api_cache_requests_total.
type countKey struct{ collection, kind, result string }

// retryLoop retries failed invalidations until they succeed.
func (c *Cache) retryLoop(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.opts.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.retry:
		case <-t.C:
		}
		c.mu.Lock()
		var cols []string
		for col := range c.pending {
			cols = append(cols, col)
		}
		c.mu.Unlock()
		for _, col := range cols {
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := c.bump(rctx, col)
			cancel()
			if err == nil {
				c.opts.Log.Info("cache invalidation retried successfully", slog.String("collection", col))
			} else if ctx.Err() != nil {
				return
			}
		}
	}
}

func newToken() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
