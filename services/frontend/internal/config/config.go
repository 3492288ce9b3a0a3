// Package config reads the frontend's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/docker-examples/stack/platform/logging"
)

// Config is everything the frontend reads from its environment.
type Config struct {
	Port     int        // PORT, default 3000
	LogLevel slog.Level // LOG_LEVEL: debug, info, warn, error
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
	return c, nil
}
