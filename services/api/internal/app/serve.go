package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/migrations"
	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/health"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/replicas"
	"github.com/docker-examples/stack/services/api/internal/session"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// runServe owns the service's lifecycle, in order: the schema (with
// AUTO_MIGRATE), the PostgreSQL pool, the Redis client, what is built on
// them (auth, limits, events, replicas), the handler; it serves until ctx
// ends, drains, and closes everything in reverse order.
func runServe(ctx context.Context, cfg config.Config, getenv func(string) string, stdout io.Writer) error {
	// Lines reach stdout together, at most 100 ms late, at once from a
	// warning on: one write per request was the access log's largest cost.
	logOut := logging.NewBufferedWriter(stdout, 100*time.Millisecond)
	defer logOut.Close() // the last lines, after everything else has stopped
	log := logging.New(logOut, "api", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit, "instance_id", cfg.InstanceID)
	startedAt := time.Now()
	tel, err := telemetry.Start(ctx, "api", getenv)
	if err != nil {
		return err
	}
	// Spans of the last requests are flushed after the server stopped.
	defer tel.Flush(ctx, log)
	log.Info("tracing", "on", tel.On())

	// Without AUTO_MIGRATE, serve does not wait for PostgreSQL: the pool
	// connects lazily and /ready answers 503 until the database is up.
	if cfg.AutoMigrate {
		if err := migrateUp(ctx, cfg, log); err != nil {
			return err
		}
	}
	m := metrics.New()
	var queryTracer pgx.QueryTracer = m.QueryTracer()
	if tel.On() {
		// Client spans for PostgreSQL, beside the query counter: one per
		// statement, with its SQL. No span per pool acquisition (the pool's
		// waits are metrics) and no connection details (one database).
		queryTracer = multitracer.New(queryTracer, otelpgx.NewTracer(otelpgx.WithTracerProvider(tel.ChildTracerProvider()),
			otelpgx.WithDisableAcquireTracer(), otelpgx.WithDisableConnectionDetailsInAttributes()))
	}
	pool, err := store.NewPool(ctx, cfg.DatabaseURL.Reveal(), queryTracer)
	if err != nil {
		return err
	}
	defer pool.Close()
	m.RegisterPool(pool)
	st := store.New(pool)

	rdb, err := newRedis("REDIS_URL", cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close() // closed before the pool: reverse order of opening
	// The cache has a Redis of its own when REDIS_CACHE_URL is set: what
	// anonymous clients make it store is evicted there, never sessions,
	// limits, idempotency records or events.
	cacheRDB := rdb
	if !cfg.RedisCacheURL.IsZero() {
		if cacheRDB, err = newRedis("REDIS_CACHE_URL", cfg.RedisCacheURL); err != nil {
			return err
		}
		defer cacheRDB.Close()
	}
	if tel.On() {
		// Client spans for Redis inside sampled requests and jobs, on
		// each client (the cache's own when it has one).
		for _, c := range uniqueClients(rdb, cacheRDB) {
			c.AddHook(newRedisTracing(tel.Tracer(), c.Options().Addr))
		}
	}
	itemCache, err := cache.New(cacheRDB, cache.Options{Log: log, Registerer: m.Registerer()})
	if err != nil {
		return err
	}
	defer itemCache.Close()

	proxies := forwarded.New(cfg.TrustedProxies)
	// Names (TRUSTED_PROXIES=frontend,lb) are re-resolved every 5 s until
	// the server stops; their last addresses stay trusted while it drains.
	proxies.Watch(ctx, cfg.TrustedProxyNames, 5*time.Second, nil, log)
	authn, sessions, err := newAuth(cfg, log, st, rdb, proxies)
	if err != nil {
		return err
	}
	limiter, err := ratelimit.New(rdb, ratelimit.Options{
		Log: log, Registerer: m.Registerer(), FailClosed: cfg.RateLimitFailClosed,
	})
	if err != nil {
		return err
	}
	// Sign-in fails closed: while Redis is down no password is checked
	// (503), so an outage is no window for unlimited guessing. Its
	// decisions are counted as login_api_ratelimit_requests_total.
	loginLimiter, err := ratelimit.New(rdb, ratelimit.Options{
		Log: log, Registerer: prometheus.WrapRegistererWithPrefix("login_", m.Registerer()), FailClosed: true,
	})
	if err != nil {
		return err
	}
	idem := idempotency.New(rdb, idempotency.Options{Log: log})

	itemEvents := events.ItemEvents{P: events.NewPublisher(rdb, "", cfg.EventStreamMaxBytes, cfg.InstanceID)}
	cachedItems := cache.NewItems(st, itemCache)
	worker, err := newWorker(cfg, log, tel, m, st)
	if err != nil {
		return err
	}
	worker.Store, worker.Events, worker.Invalidate = st, itemEvents, cachedItems.Invalidate

	broker := events.NewBroker(rdb, events.Options{Log: log})
	registry := replicas.New(rdb, replicas.Replica{
		InstanceID: cfg.InstanceID, Version: buildinfo.Version, StartedAt: startedAt.UTC(),
	}, replicas.Options{Log: log})
	// The broker and the heartbeat outlive the drain (open streams keep
	// receiving events) and stop once the server has.
	loops := []func(context.Context) error{broker.Run, registry.Run}
	if !cfg.Enrich.Disabled {
		loops = append(loops, worker.Run)
	}
	stopBackground := runInBackground(ctx, loops...)
	defer stopBackground()

	schemaWant, err := migrations.Latest()
	if err != nil {
		return err
	}
	schema := newSchemaCheck(st.SchemaVersion, schemaWant, log)
	deps := []health.Dependency{
		{Name: "postgres", Required: true, Ping: st.Ping},
		// Ready only once `migrate up` has brought the schema to this
		// binary's migrations (a swarm's migrate job runs beside the api).
		{Name: "schema", Required: true, Ping: schema.Ping},
		{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	}
	if cacheRDB != rdb {
		deps = append(deps, health.Dependency{Name: "redis_cache", Ping: func(ctx context.Context) error { return cacheRDB.Ping(ctx).Err() }})
	}
	cursors, err := cursorSigner(cfg, st)
	if err != nil {
		return err
	}
	checker := health.NewChecker(time.Second, deps...).Cache(time.Second) // /ready and /api/status are public: one round of pings a second at most
	h := httpapi.New(httpapi.Deps{
		Log:              log,
		Items:            cachedItems,
		Refresher:        st,
		Importer:         importer{st, cachedItems},
		Health:           checker,
		Metrics:          m,
		MetricsToken:     cfg.MetricsToken,
		Auth:             authn,
		ReadsRequireAuth: cfg.ReadsRequireAuth,
		Sessions:         sessions,
		EventFeed:        broker,
		EventStreams:     httpapi.EventStreams{PerClient: cfg.EventStreamsPerClient},
		Events:           itemEvents,
		Cursors:          cursors,
		Replicas:         replicaLister{registry},
		InstanceID:       cfg.InstanceID,
		StartedAt:        startedAt,
		CORSOrigins:      cfg.CORSOrigins,
		TrustedProxies:   cfg.TrustedProxies,
		Proxies:          proxies,
		RateLimit: httpapi.RateLimit{
			Limiter: limiter, PerIP: cfg.RateLimit, PerKey: cfg.RateLimitKey,
			LoginLimiter: loginLimiter, Login: cfg.RateLimitLogin,
		},
		Idempotency:    idem,
		RequestTimeout: cfg.RequestTimeout,
	})

	if cfg.DebugAddr != "" {
		if err := startDebug(ctx, cfg.DebugAddr, log); err != nil {
			return err
		}
	}
	ln, err := serve.Listen(ctx, cfg.Addr())
	if err != nil {
		return err
	}
	// Server spans, named by route template in httpapi's observe.
	return serve.Serve(ctx, ln, tel.Handler(h, nil), log, serve.Options{
		DrainDelay: cfg.ShutdownDrain,
		OnDrain: func() {
			checker.Drain()
			log.Info("draining: /ready answers 503", "drain", cfg.ShutdownDrain.String())
		},
		OnShutdown: broker.Shutdown,
	})
}

// migrateUp applies the migrations under the migration lock.
func migrateUp(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	r, err := openMigrator(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Up(ctx)
}

// newRedis is a Redis client on url, which the variable name holds. Redis
// is an optimisation and a meeting point of replicas, never a reason not
// to start: the client connects lazily, and every user of it degrades on
// its own while Redis is away.
func newRedis(name string, url secret.Value) (*redis.Client, error) {
	ropts, err := redis.ParseURL(url.Reveal())
	if err != nil {
		return nil, errors.New(name + ": cannot be parsed") // the URL may hold a password
	}
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = 2*time.Second, time.Second, time.Second
	return redis.NewClient(ropts), nil
}

// uniqueClients is the clients given, each once.
func uniqueClients(cs ...*redis.Client) []*redis.Client {
	var out []*redis.Client
	for _, c := range cs {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// newAuth is who may write: keys in the database first (they answer "not
// mine" for unknown keys), then the keys of API_KEYS_FILE (which refuse
// what nobody knows), then browser sessions.
func newAuth(cfg config.Config, log *slog.Logger, st *store.Store, rdb redis.UniversalClient, proxies *forwarded.Resolver) (auth.Chain, *session.Manager, error) {
	fileKeys := &auth.APIKeys{} // accepts none, refuses every key it is shown
	if cfg.APIKeysFile != "" {
		k, err := auth.LoadAPIKeys(cfg.APIKeysFile)
		if err != nil {
			return nil, nil, err
		}
		fileKeys = k
		log.Info("api keys loaded", "count", k.Len())
	} else {
		log.Warn("API_KEYS_FILE is not set: only keys made with `api keys create` are accepted")
	}
	if cfg.AdminPassword.IsZero() {
		log.Warn("ADMIN_PASSWORD is not set: browser login is disabled")
	}
	sessions := session.NewManager(rdb, session.NewAdmin(cfg.AdminUsername, cfg.AdminPassword), session.Options{
		IdleTimeout:     cfg.SessionIdleTimeout,
		AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
		IsHTTPS:         proxies.IsHTTPS,
	})
	return auth.Chain{keys.NewStore(st), fileKeys, sessions}, sessions, nil
}

// runInBackground runs each loop until the returned stop is called, which
// waits for them to return.
func runInBackground(ctx context.Context, loops ...func(context.Context) error) (stop func()) {
	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, loop := range loops {
		wg.Go(func() { _ = loop(bgCtx) })
	}
	return func() { cancel(); wg.Wait() }
}

// replicaLister shows the registry's live replicas on /api/status.
type replicaLister struct{ reg *replicas.Registry }

func (l replicaLister) Replicas(ctx context.Context) ([]httpapi.Replica, error) {
	rs, err := l.reg.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]httpapi.Replica, len(rs))
	for i, r := range rs {
		out[i] = httpapi.Replica{InstanceID: r.InstanceID, Version: r.Version, LastSeen: r.LastSeen}
	}
	return out, nil
}
