package config

import (
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/env"
	"github.com/docker-examples/stack/platform/secret"
)

// Enrich configures the background checks (ARCHITECTURE.md "Enrichment").
type Enrich struct {
	RegistryAuthFile string         // REGISTRY_AUTH_FILE: a Docker config.json
	RegistryInsecure []string       // REGISTRY_INSECURE: host:port reached over plain HTTP
	RegistryAllow    []string       // REGISTRY_ALLOW: registry hosts on private addresses, over HTTPS
	GitHubAPIURL     string         // GITHUB_API_URL, default https://api.github.com
	GitHubToken      secret.Value   // GITHUB_TOKEN or GITHUB_TOKEN_FILE
	LinkCheckAllow   []netip.Prefix // LINK_CHECK_ALLOW: CIDRs the link checker may fetch anyway
	Interval         time.Duration  // ENRICH_INTERVAL, default 6h (1m–720h)
	// Disabled (ENRICH=off) runs no worker on this replica; refreshes
	// still queue and a replica with the worker on does them.
	Disabled bool
}

func loadEnrich(l *env.Loader) Enrich {
	e := Enrich{
		RegistryAuthFile: l.Get("REGISTRY_AUTH_FILE"),
		GitHubAPIURL:     strings.TrimRight(l.String("GITHUB_API_URL", "https://api.github.com"), "/"),
		GitHubToken:      l.Secret("GITHUB_TOKEN"),
		LinkCheckAllow:   l.Prefixes("LINK_CHECK_ALLOW", nil),
		Interval:         l.Duration("ENRICH_INTERVAL", 6*time.Hour, time.Minute, 720*time.Hour),
	}
	for _, h := range l.List("REGISTRY_INSECURE") {
		if strings.Contains(h, "/") || !strings.Contains(h, ":") {
			l.Fail("REGISTRY_INSECURE", "%q is not host:port", h)
			continue
		}
		e.RegistryInsecure = append(e.RegistryInsecure, strings.ToLower(h))
	}
	for _, h := range l.List("REGISTRY_ALLOW") {
		if strings.Contains(h, "/") {
			l.Fail("REGISTRY_ALLOW", "%q is not a host[:port]", h)
			continue
		}
		e.RegistryAllow = append(e.RegistryAllow, strings.ToLower(h))
	}
	if u, err := url.Parse(e.GitHubAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		l.Fail("GITHUB_API_URL", "%q is not an http(s) URL", e.GitHubAPIURL)
	}
	switch v := strings.ToLower(l.Get("ENRICH")); v {
	case "", "on":
	case "off":
		e.Disabled = true
	default:
		l.Fail("ENRICH", "%q: want on or off", v)
	}
	return e
}
