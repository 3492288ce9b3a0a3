// Command api is the REST API of the image inventory.
//
// Usage:
//
//	api [serve]                    run the service (the default)
//	api migrate [up|down|status]   apply, roll back one, or list migrations,
//	                               under a PostgreSQL advisory lock
//	api healthcheck                exit 0 when the running service answers GET /health
//	api version                    print the version and commit
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/health"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/migrate"
	"github.com/docker-examples/stack/services/api/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// migrateLockWait bounds how long `migrate` waits for another migrator.
const migrateLockWait = 5 * time.Minute

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
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
	case "healthcheck":
		return healthcheck.Check(ctx, healthcheck.LoopbackURL(cfg.Addr(), "/health"), 5*time.Second)
	case "version":
		_, err := fmt.Fprintf(stdout, "api %s (commit %s, %s)\n", buildinfo.Version, buildinfo.Commit, buildinfo.GoVersion())
		return err
	default:
		return fmt.Errorf("unknown command %q: want serve, migrate, healthcheck or version", cmd)
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

func runServe(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	log := logging.New(stdout, "api", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit, "instance_id", cfg.InstanceID)
	startedAt := time.Now()

	authn := auth.Chain{}
	if cfg.APIKeysFile != "" {
		keys, err := auth.LoadAPIKeys(cfg.APIKeysFile)
		if err != nil {
			return err
		}
		authn = append(authn, keys)
		log.Info("api keys loaded", "count", keys.Len())
	} else {
		log.Warn("API_KEYS_FILE is not set: no API key is accepted")
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

	ropts, err := redis.ParseURL(cfg.RedisURL.Reveal())
	if err != nil {
		return errors.New("REDIS_URL: cannot be parsed")
	}
	ropts.DialTimeout, ropts.ReadTimeout, ropts.WriteTimeout = 2*time.Second, time.Second, time.Second
	rdb := redis.NewClient(ropts)
	defer rdb.Close() // closed before the pool: reverse order of opening

	st := store.New(pool)
	checker := health.NewChecker(time.Second,
		health.Dependency{Name: "postgres", Required: true, Ping: st.Ping},
		health.Dependency{Name: "redis", Ping: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
	)
	h := httpapi.New(httpapi.Deps{
		Log:            log,
		Items:          st,
		Health:         checker,
		Metrics:        m,
		Auth:           authn,
		InstanceID:     cfg.InstanceID,
		StartedAt:      startedAt,
		CORSOrigins:    cfg.CORSOrigins,
		TrustedProxies: cfg.TrustedProxies,
	})

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
	})
}
