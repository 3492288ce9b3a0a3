// Package config reads the frontend's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"net/url"

	"github.com/docker-examples/stack/platform/env"
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

// Load reads and validates the configuration from getenv, reporting every
// bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	l := env.New(getenv)
	c := Config{
		Port:     l.Port("PORT", 3000),
		LogLevel: l.LogLevel("LOG_LEVEL"),
		APIURL:   env.Parse(l, "API_URL", mustAPIURL("http://api:8000"), parseAPIURL),
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// parseAPIURL reads an http(s) URL of the form http://host:port; the error
// never shows a password the URL holds.
func parseAPIURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		shown := "the value"
		if err == nil {
			shown = fmt.Sprintf("%q", u.Redacted())
		}
		return nil, fmt.Errorf("%s is not an http(s) URL of the form http://host:port", shown)
	}
	u.Path = ""
	return u, nil
}

func mustAPIURL(raw string) *url.URL {
	u, err := parseAPIURL(raw)
	if err != nil {
		panic(err) // a default of this package
	}
	return u
}
