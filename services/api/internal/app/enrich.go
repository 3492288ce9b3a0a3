package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/composeimport"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/enrich"
	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/linkcheck"
	"github.com/docker-examples/stack/services/api/internal/metrics"
	"github.com/docker-examples/stack/services/api/internal/netguard"
	"github.com/docker-examples/stack/services/api/internal/registry"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// importer applies a compose import in the store, then drops the cached
// reads, as the cache does after every other write.
type importer struct {
	st    *store.Store
	cache *cache.Items
}

func (i importer) ApplyImport(ctx context.Context, items []inventory.Item, dryRun bool) ([]store.ImportResult, error) {
	out, err := i.st.ApplyImport(ctx, items, dryRun)
	if err == nil && !dryRun {
		i.cache.Invalidate(ctx)
	}
	return out, err
}

// newWorker builds the enrichment worker from the configuration, tracing
// its jobs and their calls when tel is on, and exports its metrics on m
// (job results, the backlog, the external APIs' requests and quotas). The
// caller sets Store, Events and Invalidate, and runs it.
func newWorker(cfg config.Config, log *slog.Logger, tel *telemetry.Telemetry, m *metrics.Metrics, st *store.Store) (*enrich.Worker, error) {
	e := cfg.Enrich
	guard := &netguard.Guard{Allow: e.LinkCheckAllow, Own: netguard.OwnNetworks()}
	reg, err := registry.New(registry.Config{
		AuthFile: e.RegistryAuthFile, Insecure: e.RegistryInsecure, Allow: e.RegistryAllow,
		Guard: guard, UserAgent: "docker-examples-api/" + buildinfo.Version,
		WrapTransport: tel.ExternalTransport,
	})
	if err != nil {
		return nil, err
	}
	gh, err := github.New(e.GitHubAPIURL, e.GitHubToken.Reveal(),
		&http.Client{Timeout: 20 * time.Second, Transport: tel.ExternalTransport(nil)})
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL: %w", err)
	}
	m.RegisterExternal("registry", reg)
	m.RegisterExternal("github", gh)
	m.RegisterEnrichBacklog(st.CountDueJobs)
	return &enrich.Worker{
		Registry: reg, GitHub: gh, Links: linkcheck.New(linkcheck.Config{Guard: guard, WrapTransport: tel.ExternalTransport}),
		Log: log, ID: cfg.InstanceID, Interval: e.Interval, Tracer: tel.Tracer(), Metrics: m,
	}, nil
}

// runImport is `api import compose FILE`, on the database of the config;
// it drops the replicas' cached reads and publishes the changes, as the
// HTTP import does (Redis down: logged, the import stands).
func runImport(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	pool, err := store.NewPool(ctx, cfg.DatabaseURL.Reveal(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := store.New(pool)
	log := logging.New(io.Discard, "api", cfg.LogLevel)
	rdb, err := newRedis("REDIS_URL", cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	cacheRDB := rdb
	if !cfg.RedisCacheURL.IsZero() {
		if cacheRDB, err = newRedis("REDIS_CACHE_URL", cfg.RedisCacheURL); err != nil {
			return err
		}
		defer cacheRDB.Close()
	}
	c, err := cache.New(cacheRDB, cache.Options{Log: log, Registerer: prometheus.NewRegistry()})
	if err != nil {
		return err
	}
	defer c.Close()
	pub := events.ItemEvents{P: events.NewPublisher(rdb, "", cfg.EventStreamMaxBytes, cfg.InstanceID)}
	apply := func(ctx context.Context, items []inventory.Item, dryRun bool) ([]string, []inventory.Item, error) {
		out, err := importer{st, cache.NewItems(st, c)}.ApplyImport(ctx, items, dryRun)
		if err != nil {
			return nil, nil, err
		}
		actions := make([]string, len(out))
		its := make([]inventory.Item, len(out))
		for i, o := range out {
			actions[i], its[i] = o.Action, o.Item
			if !dryRun && o.Action != store.ImportUnchanged {
				typ := inventory.ItemUpdated
				if o.Action == store.ImportCreated {
					typ = inventory.ItemCreated
				}
				it := o.Item
				_ = pub.Publish(ctx, inventory.Event{Type: typ, ID: it.ID, Item: &it})
			}
		}
		return actions, its, nil
	}
	return composeimport.Run(ctx, args, apply, stdout)
}
