// Package config reads the console's configuration from the environment
// once, at start-up, and validates it: a bad value stops the service with
// a message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/docker-examples/stack/platform/logging"
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

// Load reads and validates the configuration from getenv.
func Load(getenv func(string) string) (Config, error) {
	c := Config{Port: 9400}
	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return Config{}, fmt.Errorf("PORT: %q is not a port number (0-65535)", v)
		}
		c.Port = p
	}
	lvl, err := logging.ParseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		return Config{}, err
	}
	c.LogLevel = lvl
	for _, v := range []struct {
		name, def string
		dst       **url.URL
	}{
		{"METRICS_URL", "http://victoria-metrics:8428", &c.MetricsURL},
		{"LOGS_URL", "http://victoria-logs:9428", &c.LogsURL},
		{"TRACES_URL", "http://jaeger:16686", &c.TracesURL},
	} {
		u, err := baseURL(v.name, getenv(v.name), v.def)
		if err != nil {
			return Config{}, err
		}
		*v.dst = u
	}
	links, err := parseLinks(getenv("LINKS"))
	if err != nil {
		return Config{}, err
	}
	c.Links = links
	return c, nil
}

func parseLinks(raw string) (map[string]string, error) {
	links := map[string]string{}
	if strings.TrimSpace(raw) == "" {
		return links, nil
	}
	for _, part := range strings.Split(raw, ",") {
		label, target, ok := strings.Cut(strings.TrimSpace(part), "=")
		u, err := url.Parse(target)
		if !ok || label == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("LINKS: %q is not label=http(s)://host/path", part)
		}
		links[label] = target
	}
	return links, nil
}

func baseURL(name, raw, def string) (*url.URL, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		shown := raw
		if err == nil {
			shown = u.Redacted()
		}
		return nil, fmt.Errorf("%s: %q is not an http(s) URL of the form http://host:port", name, shown)
	}
	u.Path = ""
	return u, nil
}
