// Package app is the api program: Run is what cmd/api runs and what tests
// start, with its subcommands:
//
//	api [serve]                    run the service (the default)
//	api migrate [up|down|status]   apply, roll back one, or list migrations,
//	                               under a PostgreSQL advisory lock
//	api keys create NAME|list|revoke ID
//	                               manage the API keys stored in PostgreSQL
//	api healthcheck                exit 0 when the running service answers GET /health
//	api version                    print the version and commit
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/health"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/idempotency"
	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/migrate"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
	"github.com/docker-examples/stack/services/api/internal/replicas"
	"github.com/docker-examples/stack/services/api/internal/session"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// migrateLockWait bounds how long `migrate` waits for another migrator.
const migrateLockWait = 5 * time.Minute

// Run is the whole program (a command.RunFunc); main only wires it to the
// process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return runServe(ctx, cfg, stdout)
	case "migrate":
		return runMigrate(ctx, cfg, args[1:], stdout)
	case "keys":
		return runKeys(ctx, cfg, args[1:], stdout)
	case "import":
		return runImport(ctx, cfg, args[1:], stdout)
	case "healthcheck":
		return healthcheck.Check(ctx, healthcheck.LoopbackURL(cfg.Addr(), "/health"), 5*time.Second)
	case "version":
		return command.Version(stdout, "api")
	default:
		return fmt.Errorf("unknown command %q: want serve, migrate, keys, import, healthcheck or version", cmd)
	}
}

func runMigrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	if sub != "up" && sub != "down" && sub != "status" {
		return fmt.Errorf("unknown migrate command %q: want up, down or status", sub)
	}
	log := logging.New(stdout, "api", cfg.LogLevel)
	if err := store.WaitForDatabase(ctx, cfg.DatabaseURL.Reveal(), cfg.DBConnectTimeout, log); err != nil {
		return err
	}
	r, err := migrate.Open(cfg.DatabaseURL.Reveal(), migrateLockWait, log)
	if err != nil {
		return err
	}
	defer r.Close()
	switch sub {
	case "down":
		return r.Down(ctx)
	case "status":
		return r.Status(ctx, stdout)
	default:
		return r.Up(ctx)
	}
}

// runKeys is `api keys create|list|revoke`, on the database of the config.
func runKeys(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	pool, err := store.NewPool(ctx, cfg.DatabaseURL.Reveal(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	return keys.Run(ctx, args, keys.NewStore(pool), stdout)
}

func runServe(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	log := logging.New(stdout, "api", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit, "instance_id", cfg.InstanceID)
	startedAt := time.Now()

	fileKeys := &auth.APIKeys{} // accepts none, refuses every key it is shown
	if cfg.APIKeysFile != "" {
		k, err := auth.LoadAPIKeys(cfg.APIKeysFile)
		if err != nil {
			return err
		}
		fileKeys = k
		log.Info("api keys loaded", "count", k.Len())
	} else {
		log.Warn("API_KEYS_FILE is not set: only keys made with `api keys create` are accepted")
	}
	if cfg.AdminPassword.IsZero() {
		log.Warn("ADMIN_PASSWORD is not set: browser login is disabled")
	}

	// Without AUTO_MIGRATE, serve does not wait for PostgreSQL: the pool
	// connects lazily and /ready answers 503 until the database is up.
	if cfg.AutoMigrate {
		if err := store.WaitForDatabase(ctx, cfg.DatabaseURL.Reveal(), cfg.DBConnectTimeout, log); err != nil {
			return err
		}
		r, err := migrate.Open(cfg.DatabaseURL.Reveal(), migrateLockWait, log)
		if err != nil {
			return err
		}
		err = r.Up(ctx)
		r.Close()
		if err != nil {
			return err
		}
	}

	m := metrics.New()
	pool, err := store.NewPool(ctx, cfg.DatabaseURL.Reveal(), m.QueryTracer())
	if err != nil {
		return err
	}
	defer pool.Close()
	m.RegisterPool(pool)

	// Redis is an optimisation and a meeting point of replicas, never a
	// reason not to start: the client connects lazily, and every user of
	// it degrades on its own while Redis is away.
	ropts, err := redis.ParseURL(cfg.RedisURL.Reveal())
	if err != nil {
		return errors.New("REDIS_URL: cannot be parsed")
	}
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = 2*time.Second, time.Second, time.Second
	rdb := redis.NewClient(ropts)
	defer rdb.Close() // closed before the pool: reverse order of opening

	st := store.New(pool)
	itemCache, err := cache.New(rdb, cache.Options{Log: log, Registerer: m.Registerer()})
	if err != nil {
		return err
	}
	defer itemCache.Close()

	proxies := forwarded.New(cfg.TrustedProxies)
	sessions := session.NewManager(rdb, session.NewAdmin(cfg.AdminUsername, cfg.AdminPassword), session.Options{
		IdleTimeout:     cfg.SessionIdleTimeout,
		AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
		IsHTTPS:         proxies.IsHTTPS,
		DecodeJSON:      httpapi.DecodeJSON,
	})
	// Keys in the database first: they answer "not mine" for unknown keys,
	// and the file keys then refuse what nobody knows.
	authn := auth.Chain{keys.NewStore(pool), fileKeys, sessions}

	limiter, err := ratelimit.New(rdb, ratelimit.Options{
		Log: log, Registerer: m.Registerer(), FailClosed: cfg.RateLimitFailClosed,
	})
	if err != nil {
		return err
	}
	idem := idempotency.New(rdb, idempotency.Options{
		Log:   log,
		Scope: func(r *http.Request) string { p, _ := auth.FromContext(r.Context()); return p.Subject },
	})

	itemEvents := events.ItemEvents{P: events.NewPublisher(rdb, "", 0, cfg.InstanceID)}
	cachedItems := cache.NewItems(st, itemCache)
	worker, err := newWorker(cfg, log)
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
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { _ = broker.Run(bgCtx) })
	background.Go(func() { _ = registry.Run(bgCtx) })
	if !cfg.Enrich.Disabled {
		background.Go(func() { _ = worker.Run(bgCtx) })
	}
	defer background.Wait()
	defer stopBackground()

	checker := health.NewChecker(time.Second,
		health.Dependency{Name: "postgres", Required: true, Ping: st.Ping},
		health.Dependency{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	)
	h := httpapi.New(httpapi.Deps{
		Log:              log,
		Items:            cachedItems,
		Refresher:        st,
		Importer:         importer{st, cachedItems},
		Health:           checker,
		Metrics:          m,
		Auth:             authn,
		ReadsRequireAuth: cfg.ReadsRequireAuth,
		Sessions:         sessions,
		EventStream:      broker,
		Events:           itemEvents,
		Replicas:         replicaLister{registry},
		InstanceID:       cfg.InstanceID,
		StartedAt:        startedAt,
		CORSOrigins:      cfg.CORSOrigins,
		TrustedProxies:   cfg.TrustedProxies,
		RateLimit:        rateLimit(limiter, proxies, cfg.RateLimit, cfg.RateLimitKey),
		LoginRateLimit:   loginRateLimit(limiter, proxies, cfg.RateLimitLogin),
		WriteMiddleware:  []echo.MiddlewareFunc{httpapi.Middleware(idem.Wrap)},
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
	return serve.Serve(ctx, ln, h, log, serve.Options{
		DrainDelay: cfg.ShutdownDrain,
		OnDrain: func() {
			checker.Drain()
			log.Info("draining: /ready answers 503", "drain", cfg.ShutdownDrain.String())
		},
		OnShutdown: broker.Shutdown,
	})
}

// rateLimit limits every /api request: a caller that identified itself (an
// API key, a session) draws from its own budget, perKey, whatever address
// it comes from; anyone else from their client address's, perIP.
func rateLimit(l *ratelimit.Limiter, proxies *forwarded.Resolver, perIP, perKey ratelimit.Limit) echo.MiddlewareFunc {
	return limitBy(l, func(r *http.Request) (string, ratelimit.Limit) {
		if p, ok := auth.FromContext(r.Context()); ok {
			return "principal:" + p.Subject, perKey
		}
		return ratelimit.IPKey(proxies.ClientIP(r)), perIP
	})
}

// loginRateLimit gives login attempts a budget of their own per client
// address, against password guessing.
func loginRateLimit(l *ratelimit.Limiter, proxies *forwarded.Resolver, perIP ratelimit.Limit) echo.MiddlewareFunc {
	return limitBy(l, func(r *http.Request) (string, ratelimit.Limit) {
		return "login:" + ratelimit.IPKey(proxies.ClientIP(r)), perIP
	})
}

// limitBy is l's middleware for policy, in echo; a zero limit (configured
// "off") lets the request through untouched.
func limitBy(l *ratelimit.Limiter, policy ratelimit.Policy) echo.MiddlewareFunc {
	return httpapi.Middleware(l.Middleware(policy))
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
