package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/services/api/internal/cache"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/enrich"
	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/linkcheck"
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

// newWorker builds the enrichment worker from the configuration. The
// caller sets Store, Events and Invalidate, and runs it.
func newWorker(cfg config.Config, log *slog.Logger) (*enrich.Worker, error) {
	e := cfg.Enrich
	guard := &netguard.Guard{Allow: e.LinkCheckAllow, Own: netguard.OwnNetworks()}
	reg, err := registry.New(registry.Config{
		AuthFile: e.RegistryAuthFile, Insecure: e.RegistryInsecure, Allow: e.RegistryAllow,
		Guard: guard, UserAgent: "docker-examples-api/" + buildinfo.Version,
	})
	if err != nil {
		return nil, err
	}
	gh, err := github.New(e.GitHubAPIURL, e.GitHubToken.Reveal(), nil)
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL: %w", err)
	}
	return &enrich.Worker{
		Registry: reg, GitHub: gh, Links: linkcheck.New(linkcheck.Config{Guard: guard}),
		Log: log, ID: cfg.InstanceID, Interval: e.Interval,
	}, nil
}
