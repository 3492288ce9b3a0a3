// Package config reads the api's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/forwarded"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// Config is everything the api reads from its environment. Secret fields
// are secret.Value and never print.
type Config struct {
	Port     int        // PORT, default 8000
	LogLevel slog.Level // LOG_LEVEL: debug, info, warn, error

	// DatabaseURL comes from DATABASE_URL (or DATABASE_URL_FILE), or is
	// built from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD(_FILE)
	// and DB_SSLMODE. Setting both forms is an error.
	DatabaseURL secret.Value
	// RedisURL is REDIS_URL, default redis://redis:6379/0. It may carry a
	// password, so it is a secret too.
	RedisURL secret.Value

	APIKeysFile   string       // API_KEYS_FILE: keys accepted in X-API-Key, one per line
	AdminUsername string       // ADMIN_USERNAME, default admin
	AdminPassword secret.Value // ADMIN_PASSWORD or ADMIN_PASSWORD_FILE

	InstanceID     string         // INSTANCE_ID, default the host name
	CORSOrigins    []string       // CORS_ORIGINS: comma-separated origins allowed to call the API
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES: CIDRs whose X-Forwarded-* headers are believed
	AutoMigrate    bool           // AUTO_MIGRATE: apply migrations at start-up, default false
	ShutdownDrain  time.Duration  // SHUTDOWN_DRAIN: /ready fails this long before the server stops, default 5s
	// DBConnectTimeout (DB_CONNECT_TIMEOUT, default 60s) bounds how long
	// serve and migrate wait for PostgreSQL at start-up.
	DBConnectTimeout time.Duration

	// Rate limits, shared by every replica through Redis. A zero Limit
	// (the value "off") disables that limit.
	RateLimit      ratelimit.Limit // RATE_LIMIT: per client IP, anonymous callers, default 600/m
	RateLimitKey   ratelimit.Limit // RATE_LIMIT_KEY: per API key or signed-in user, default 6000/m
	RateLimitLogin ratelimit.Limit // RATE_LIMIT_LOGIN: login attempts per client IP, default 10/m
	// RateLimitFailClosed (RATE_LIMIT_FAIL_CLOSED, default false) answers
	// 503 instead of letting requests through while Redis is down.
	RateLimitFailClosed bool

	// ReadsRequireAuth (READS_REQUIRE_AUTH, default false) makes reading
	// the inventory and its events need a key or a session too.
	ReadsRequireAuth bool

	// Browser sessions end after SESSION_IDLE_TIMEOUT without a request
	// (default 30m) or SESSION_ABSOLUTE_TIMEOUT after login (default 12h).
	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration

	// Enrich configures the registry, GitHub and link checks (enrich.go).
	Enrich Enrich
}

// Addr is the listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// Load reads and validates the configuration from getenv.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Port: 8000, AdminUsername: "admin", ShutdownDrain: 5 * time.Second, DBConnectTimeout: time.Minute,
		SessionIdleTimeout: 30 * time.Minute, SessionAbsoluteTimeout: 12 * time.Hour,
	}
	var errs []error
	fail := func(err error) { errs = append(errs, err) }

	if v := getenv("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			fail(fmt.Errorf("PORT: %q is not a port number (0-65535)", v))
		}
		c.Port = p
	}
	lvl, err := logging.ParseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		fail(err)
	}
	c.LogLevel = lvl

	dbURL, err := databaseURL(getenv)
	if err != nil {
		fail(err)
	}
	c.DatabaseURL = secret.New(dbURL)

	c.RedisURL = secret.New("redis://redis:6379/0")
	if v := getenv("REDIS_URL"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			fail(errors.New("REDIS_URL: want redis://[:password@]host:port/db or rediss://…"))
		}
		c.RedisURL = secret.New(v)
	}

	c.APIKeysFile = getenv("API_KEYS_FILE")
	if v := getenv("ADMIN_USERNAME"); v != "" {
		c.AdminUsername = v
	}
	pw, _, err := secret.Lookup(getenv, "ADMIN_PASSWORD")
	if err != nil {
		fail(err)
	}
	c.AdminPassword = secret.New(pw)

	var enrichErrs []error
	c.Enrich, enrichErrs = loadEnrich(getenv)
	errs = append(errs, enrichErrs...)

	c.InstanceID = getenv("INSTANCE_ID")
	if c.InstanceID == "" {
		c.InstanceID, _ = os.Hostname()
	}
	if len(c.InstanceID) > 128 {
		fail(errors.New("INSTANCE_ID: longer than 128 characters"))
	}

	for _, o := range splitList(getenv("CORS_ORIGINS")) {
		if o == "*" {
			fail(errors.New("CORS_ORIGINS: \"*\" is not allowed: list the origins"))
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			fail(fmt.Errorf("CORS_ORIGINS: %q is not an origin like https://example.com[:port]", o))
			continue
		}
		c.CORSOrigins = append(c.CORSOrigins, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	trusted, err := forwarded.ParseTrusted(getenv("TRUSTED_PROXIES"))
	if err != nil {
		fail(fmt.Errorf("TRUSTED_PROXIES: %w", err))
	}
	c.TrustedProxies = trusted
	if v := getenv("AUTO_MIGRATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(fmt.Errorf("AUTO_MIGRATE: %q is not true or false", v))
		}
		c.AutoMigrate = b
	}
	if v := getenv("SHUTDOWN_DRAIN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 5*time.Minute {
			fail(fmt.Errorf("SHUTDOWN_DRAIN: %q is not a duration between 0s and 5m", v))
		}
		c.ShutdownDrain = d
	}
	if v := getenv("DB_CONNECT_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > time.Hour {
			fail(fmt.Errorf("DB_CONNECT_TIMEOUT: %q is not a duration between 1s and 1h", v))
		}
		c.DBConnectTimeout = d
	}
	for _, l := range []struct {
		name, def string
		dst       *ratelimit.Limit
	}{
		{"RATE_LIMIT", "600/m", &c.RateLimit},
		{"RATE_LIMIT_KEY", "6000/m", &c.RateLimitKey},
		{"RATE_LIMIT_LOGIN", "10/m", &c.RateLimitLogin},
	} {
		v := getenv(l.name)
		if v == "" {
			v = l.def
		}
		if strings.EqualFold(v, "off") {
			continue
		}
		lim, err := ratelimit.ParseLimit(v)
		if err != nil {
			fail(fmt.Errorf("%s: %w (or off)", l.name, err))
		}
		*l.dst = lim
	}
	if v := getenv("READS_REQUIRE_AUTH"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(fmt.Errorf("READS_REQUIRE_AUTH: %q is not true or false", v))
		}
		c.ReadsRequireAuth = b
	}
	if v := getenv("RATE_LIMIT_FAIL_CLOSED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			fail(fmt.Errorf("RATE_LIMIT_FAIL_CLOSED: %q is not true or false", v))
		}
		c.RateLimitFailClosed = b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{"SESSION_IDLE_TIMEOUT", &c.SessionIdleTimeout},
		{"SESSION_ABSOLUTE_TIMEOUT", &c.SessionAbsoluteTimeout},
	} {
		if v := getenv(d.name); v != "" {
			t, err := time.ParseDuration(v)
			if err != nil || t < time.Minute || t > 30*24*time.Hour {
				fail(fmt.Errorf("%s: %q is not a duration between 1m and 720h", d.name, v))
			}
			*d.dst = t
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// databaseURL returns DATABASE_URL(_FILE), or a URL built from DB_*.
func databaseURL(getenv func(string) string) (string, error) {
	direct, ok, err := secret.Lookup(getenv, "DATABASE_URL")
	if err != nil {
		return "", err
	}
	parts := []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_PASSWORD_FILE", "DB_SSLMODE"}
	if ok {
		for _, p := range parts {
			if getenv(p) != "" {
				return "", fmt.Errorf("DATABASE_URL and %s are both set: use one form", p)
			}
		}
		u, err := url.Parse(direct)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return "", errors.New("DATABASE_URL: want postgres://user:password@host:port/db?sslmode=…")
		}
		return direct, nil
	}
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	host, port := or("DB_HOST", "postgres"), or("DB_PORT", "5432")
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("DB_PORT: %q is not a port number (1-65535)", port)
	}
	mode := or("DB_SSLMODE", "disable")
	switch mode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		return "", fmt.Errorf("DB_SSLMODE: %q is not a libpq sslmode (disable, require, verify-full, …)", mode)
	}
	pw, _, err := secret.Lookup(getenv, "DB_PASSWORD")
	if err != nil {
		return "", err
	}
	user := or("DB_USER", "inventory")
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(host, port),
		Path:     "/" + or("DB_NAME", "inventory"),
		RawQuery: url.Values{"sslmode": {mode}}.Encode(),
	}
	if pw != "" {
		u.User = url.UserPassword(user, pw)
	}
	return u.String(), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
