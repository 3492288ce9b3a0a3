// Package config reads the frontend's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/docker-examples/stack/platform/logging"
)

// Config is everything the frontend reads from its environment.
type Config struct {
	Port     int        // PORT, default 3000
	LogLevel slog.Level // LOG_LEVEL: debug, info, warn, error
	// APIURL is where /api/* is forwarded: API_URL, default http://api:8000.
	// Only scheme and host are used; it has no path.
	APIURL *url.URL
}

// Addr is the listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// Load reads and validates the configuration from getenv.
func Load(getenv func(string) string) (Config, error) {
	c := Config{Port: 3000}
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
	raw := getenv("API_URL")
	if raw == "" {
		raw = "http://api:8000"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		shown := raw
		if err == nil {
			shown = u.Redacted()
		}
		return Config{}, fmt.Errorf("API_URL: %q is not an http(s) URL of the form http://host:port", shown)
	}
	u.Path = ""
	c.APIURL = u
	return c, nil
}
