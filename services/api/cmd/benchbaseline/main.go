// Command benchbaseline is the peer of the api in `make bench-api`: a bare
// net/http handler that does the same round trips per request as the api's
// design and nothing else, so the ratio the benchmark prints is the cost of
// the api's own code (echo, middleware, logging, metrics, headers, ETag,
// JSON) and not of PostgreSQL or Redis.
//
// Per request it does what the api does on the wire:
//
//   - every /api request: one redis_rate Allow (the limiter's script), on
//     a budget of its own (key prefix "baseline:") with the same limit;
//   - GET /api/inventory/{id} and GET /api/inventory: the cache's read
//     script (generation and value in one call); on a miss, the api's own
//     SQL (package store), then one SET of the JSON;
//   - POST /api/inventory and PUT /api/inventory/{id} (If-Match checked on
//     the locked row, 412 when stale): the X-API-Key looked up in
//     PostgreSQL (package keys, as the api does), the body validated
//     (inventory.Input.Normalize, the api's own), the api's SQL, the
//     cache's generation replaced (one SET) and the event appended (one
//     XADD), as the api does after every write.
//
// It validates nothing and answers with bare bodies: it is a yardstick, not
// a server. It shares the api's database and Redis, under its own keys.
//
// Usage:
//
//	benchbaseline -addr 127.0.0.1:18100 -database postgres://… -redis redis://… -limit 1000000/s [-debug 127.0.0.1:18105]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/store"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18100", "listen address")
	dbURL := flag.String("database", "", "PostgreSQL URL (the api's database, migrated)")
	redisURL := flag.String("redis", "", "Redis URL")
	limit := flag.String("limit", "1000000/s", "rate limit per client address, as RATE_LIMIT")
	debug := flag.String("debug", "", "serve net/http/pprof on this loopback address (bench-api's PROFILE_DIR)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *debug != "" {
		if err := serveDebug(ctx, *debug); err != nil {
			fmt.Fprintln(os.Stderr, "benchbaseline:", err)
			os.Exit(1)
		}
	}
	if err := serve(ctx, *addr, *dbURL, *redisURL, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "benchbaseline:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr, dbURL, redisURL, limitSpec string) error {
	lim, err := ratelimit.ParseLimit(limitSpec)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	ropts, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	b := &baseline{
		st: store.New(pool), keys: keys.NewStore(store.New(pool)), rdb: rdb,
		limiter: redis_rate.NewLimiter(rdb), limit: lim,
		events: events.NewPublisher(rdb, "baseline:events", 0, "baseline"),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /api/inventory/{id}", b.limited(b.getItem))
	mux.HandleFunc("GET /api/inventory", b.limited(b.listItems))
	mux.HandleFunc("POST /api/inventory", b.limited(b.createItem))
	mux.HandleFunc("PUT /api/inventory/{id}", b.limited(b.replaceItem))

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveDebug serves net/http/pprof on addr, a listener of its own, so
// that the baseline's profile can be read beside the api's.
func serveDebug(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	return nil
}

type baseline struct {
	st      *store.Store
	keys    *keys.Store
	rdb     *redis.Client
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
	events  *events.Publisher
}

// readScript is the cache's (package cache): the generation, created when
// absent, and the value under it.
var readScript = redis.NewScript(`
local g = redis.call('GET', KEYS[1])
if not g then
  g = ARGV[1]
  redis.call('SET', KEYS[1], g)
end
return {g, redis.call('GET', ARGV[2] .. g .. ARGV[3])}
`)

const prefix = "baseline:items:"

func (b *baseline) limited(h func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		res, err := b.limiter.Allow(r.Context(), "baseline:ip:"+host, b.limit)
		if err == nil && res.Allowed == 0 {
			http.Error(w, "limited", http.StatusTooManyRequests)
			return
		}
		if err := h(w, r); err != nil {
			switch {
			case errors.Is(err, store.ErrNotFound):
				http.Error(w, "not found", http.StatusNotFound)
			case errors.Is(err, errStale):
				http.Error(w, "precondition failed", http.StatusPreconditionFailed)
			case errors.Is(err, errAuth):
				http.Error(w, "unauthorized", http.StatusUnauthorized)
			default:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		}
	}
}

var (
	errStale = errors.New("stale If-Match")
	errAuth  = errors.New("no valid API key")
)

// cached answers from the cache's read script, or from load on a miss,
// storing its JSON under the generation read.
func (b *baseline) cached(w http.ResponseWriter, r *http.Request, kind, id string, load func(context.Context) (any, error)) error {
	res, err := readScript.Run(r.Context(), b.rdb, []string{prefix + "gen"}, token(), prefix, ":"+kind+":"+id).Slice()
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	if s, ok := res[1].(string); ok {
		_, err := io.WriteString(w, s)
		return err
	}
	v, err := load(r.Context())
	if err != nil {
		return err
	}
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	gen, _ := res[0].(string)
	if err := b.rdb.Set(r.Context(), prefix+gen+":"+kind+":"+id, body, 5*time.Minute).Err(); err != nil {
		return err
	}
	_, err = w.Write(body)
	return err
}

func (b *baseline) getItem(w http.ResponseWriter, r *http.Request) error {
	id, err := inventory.ParseID(r.PathValue("id"))
	if err != nil {
		return store.ErrNotFound
	}
	return b.cached(w, r, "item", id.String(), func(ctx context.Context) (any, error) {
		return b.st.GetItem(ctx, id)
	})
}

func (b *baseline) listItems(w http.ResponseWriter, r *http.Request) error {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if n <= 0 || n > 100 {
		n = 20
	}
	return b.cached(w, r, "list", strconv.Itoa(n), func(ctx context.Context) (any, error) {
		return b.st.ListItems(ctx, inventory.ListQuery{Limit: n})
	})
}

// written is what follows every write: the generation replaced and the
// event appended, then the item as JSON.
func (b *baseline) written(w http.ResponseWriter, r *http.Request, status int, it inventory.Item) error {
	if err := b.rdb.Set(r.Context(), prefix+"gen", token(), 0).Err(); err != nil {
		return err
	}
	if _, err := b.events.Publish(r.Context(), "item.updated", it.ID.String(), it); err != nil {
		return err
	}
	body, err := json.Marshal(it)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", `"v`+strconv.FormatInt(it.Version, 10)+`"`)
	w.WriteHeader(status)
	_, err = w.Write(body)
	return err
}

func (b *baseline) input(r *http.Request) (inventory.Item, error) {
	if _, err := b.keys.Authenticate(r); err != nil {
		return inventory.Item{}, errAuth
	}
	var in inventory.Input
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
		return inventory.Item{}, err
	}
	// Validation and the reference parser are the domain's work, not the
	// framework's: the yardstick does them too.
	return in.Normalize()
}

func (b *baseline) createItem(w http.ResponseWriter, r *http.Request) error {
	it, err := b.input(r)
	if err != nil {
		return err
	}
	created, err := b.st.CreateItem(r.Context(), it)
	if err != nil {
		return err
	}
	return b.written(w, r, http.StatusCreated, created)
}

func (b *baseline) replaceItem(w http.ResponseWriter, r *http.Request) error {
	id, err := inventory.ParseID(r.PathValue("id"))
	if err != nil {
		return store.ErrNotFound
	}
	next, err := b.input(r)
	if err != nil {
		return err
	}
	ifMatch := r.Header.Get("If-Match")
	updated, err := b.st.UpdateItem(r.Context(), id, func(cur inventory.Item) (inventory.Item, error) {
		if ifMatch != "" && ifMatch != `"v`+strconv.FormatInt(cur.Version, 10)+`"` {
			return inventory.Item{}, errStale
		}
		return next, nil
	})
	if err != nil {
		return err
	}
	return b.written(w, r, http.StatusOK, updated)
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
