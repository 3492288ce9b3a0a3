package main

import (
	"fmt"
	"log/slog"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/enrich"
	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/linkcheck"
	"github.com/docker-examples/stack/services/api/internal/netguard"
	"github.com/docker-examples/stack/services/api/internal/registry"
)

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
