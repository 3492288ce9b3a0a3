package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/netguard"
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
	// still queue and another replica does them.
	Disabled bool
}

func loadEnrich(getenv func(string) string) (Enrich, []error) {
	e := Enrich{GitHubAPIURL: "https://api.github.com", Interval: 6 * time.Hour}
	var errs []error
	e.RegistryAuthFile = getenv("REGISTRY_AUTH_FILE")
	for _, h := range splitList(getenv("REGISTRY_INSECURE")) {
		if strings.Contains(h, "/") || !strings.Contains(h, ":") {
			errs = append(errs, fmt.Errorf("REGISTRY_INSECURE: %q is not host:port", h))
			continue
		}
		e.RegistryInsecure = append(e.RegistryInsecure, strings.ToLower(h))
	}
	for _, h := range splitList(getenv("REGISTRY_ALLOW")) {
		if strings.Contains(h, "/") {
			errs = append(errs, fmt.Errorf("REGISTRY_ALLOW: %q is not a host[:port]", h))
			continue
		}
		e.RegistryAllow = append(e.RegistryAllow, strings.ToLower(h))
	}
	if v := getenv("GITHUB_API_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			errs = append(errs, fmt.Errorf("GITHUB_API_URL: %q is not an http(s) URL", v))
		}
		e.GitHubAPIURL = strings.TrimRight(v, "/")
	}
	tok, _, err := secret.Lookup(getenv, "GITHUB_TOKEN")
	if err != nil {
		errs = append(errs, err)
	}
	e.GitHubToken = secret.New(tok)
	allow, err := netguard.ParsePrefixes(getenv("LINK_CHECK_ALLOW"))
	if err != nil {
		errs = append(errs, fmt.Errorf("LINK_CHECK_ALLOW: %w", err))
	}
	e.LinkCheckAllow = allow
	switch v := getenv("ENRICH_INTERVAL"); {
	case v == "":
	default:
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 720*time.Hour {
			errs = append(errs, fmt.Errorf("ENRICH_INTERVAL: %q is not a duration between 1m and 720h", v))
		}
		e.Interval = d
	}
	switch v := strings.ToLower(getenv("ENRICH")); v {
	case "", "on":
	case "off":
		e.Disabled = true
	default:
		errs = append(errs, errors.New("ENRICH: want on or off"))
	}
	return e, errs
}
