// Package config reads the console's configuration from the environment
// once, at start-up, with platform/env, and validates it: bad values stop
// the service with one message naming every bad variable.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/docker-examples/stack/platform/env"
)

// Config is everything the console reads from its environment.
type Config struct {
	Port     int        // PORT, default 9400
	LogLevel slog.Level // LOG_LEVEL: debug, info, warn, error
	// The stores the page reads, each of the form http://host:port.
	MetricsURL *url.URL // METRICS_URL, default http://victoria-metrics:8428
	LogsURL    *url.URL // LOGS_URL, default http://victoria-logs:9428
	TracesURL  *url.URL // TRACES_URL (Jaeger's query API), default http://jaeger:16686
	// Links are the stores' own UIs as a browser reaches them, shown on
	// the page: LINKS, "label=URL,label=URL".
	Links map[string]string
}

// Addr is the listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// Load reads and validates the configuration from getenv, through the
// stack's one loader (platform/env): every bad variable is reported at
// once, each by name.
func Load(getenv func(string) string) (Config, error) {
	l := env.New(getenv)
	c := Config{
		Port:       l.Port("PORT", 9400),
		LogLevel:   l.LogLevel("LOG_LEVEL"),
		MetricsURL: env.Parse(l, "METRICS_URL", &url.URL{Scheme: "http", Host: "victoria-metrics:8428"}, baseURL),
		LogsURL:    env.Parse(l, "LOGS_URL", &url.URL{Scheme: "http", Host: "victoria-logs:9428"}, baseURL),
		TracesURL:  env.Parse(l, "TRACES_URL", &url.URL{Scheme: "http", Host: "jaeger:16686"}, baseURL),
		Links:      env.Parse(l, "LINKS", map[string]string{}, parseLinks),
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func parseLinks(raw string) (map[string]string, error) {
	links := map[string]string{}
	for part := range strings.SplitSeq(raw, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		label, target, ok := strings.Cut(strings.TrimSpace(part), "=")
		u, err := url.Parse(target)
		if !ok || label == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%q is not label=http(s)://host/path", part)
		}
		links[label] = target
	}
	return links, nil
}

// baseURL reads a store's address, http(s)://host:port with no path,
// query or credentials; the error shows the value without a password.
func baseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		shown := "(not a URL)"
		if err == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("%q is not an http(s) URL of the form http://host:port", shown)
	}
	u.Path = ""
	return u, nil
}
