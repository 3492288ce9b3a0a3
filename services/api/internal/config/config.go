// Package config reads the api's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/env"
	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/inventory"
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
	// APIRole is the PostgreSQL role `migrate up` (connected as the
	// schema's owner through DatabaseURL) creates or updates for the api
	// to serve as: DB_API_USER, DB_API_PASSWORD or DB_API_PASSWORD_FILE,
	// DB_API_STATEMENT_TIMEOUT (default 10s) and
	// DB_API_IDLE_IN_TRANSACTION_TIMEOUT (default 30s). Unset DB_API_USER:
	// migrate makes no role. serve ignores it: it connects as DatabaseURL
	// says.
	APIRole APIRole
	// RedisURL is REDIS_URL or REDIS_URL_FILE, default
	// redis://redis:6379/0. It carries the api's Redis user and password
	// (redis://api:password@redis:6379/0), so it is a secret too.
	RedisURL secret.Value
	// RedisCacheURL (REDIS_CACHE_URL or REDIS_CACHE_URL_FILE, same form)
	// is the Redis of the item and page cache alone, so junk cache entries
	// can be evicted there without touching sessions, rate-limit counters,
	// idempotency records or the event stream, which stay on RedisURL (an
	// instance that never evicts). Zero: the cache shares RedisURL.
	RedisCacheURL secret.Value

	// CursorKey (CURSOR_KEY or CURSOR_KEY_FILE, at least 32 bytes) signs
	// list cursors. Zero: a key made once and kept in PostgreSQL (table
	// api_secrets), the same for every replica.
	CursorKey secret.Value

	// MetricsToken (METRICS_TOKEN or METRICS_TOKEN_FILE), when set, is the
	// bearer token /metrics asks for.
	MetricsToken secret.Value

	APIKeysFile   string       // API_KEYS_FILE: keys accepted in X-API-Key, one per line
	AdminUsername string       // ADMIN_USERNAME, default admin
	AdminPassword secret.Value // ADMIN_PASSWORD or ADMIN_PASSWORD_FILE

	InstanceID  string   // INSTANCE_ID, default the host name
	CORSOrigins []string // CORS_ORIGINS: comma-separated origins allowed to call the API
	// TRUSTED_PROXIES: the peers whose X-Forwarded-* headers are believed,
	// as CIDRs or addresses (TrustedProxies) and host names the api
	// resolves every few seconds (TrustedProxyNames: "frontend,lb"), so
	// exactly the stack's own proxies are trusted.
	TrustedProxies    []netip.Prefix
	TrustedProxyNames []string
	AutoMigrate       bool          // AUTO_MIGRATE: apply migrations at start-up, default false
	ShutdownDrain     time.Duration // SHUTDOWN_DRAIN: /ready fails this long before the server stops, default 5s
	// RequestTimeout (REQUEST_TIMEOUT, default 15s, 0 for none) is every
	// request's deadline but the event stream's; past it the answer is 503.
	RequestTimeout time.Duration
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

	// EventStreamsPerClient (EVENT_STREAMS_PER_CLIENT, default 16, 0 for
	// no cap) caps the /api/events streams one client address holds open
	// on a replica; more get 429.
	EventStreamsPerClient int

	// EventStreamMaxBytes (EVENT_STREAM_MAX_BYTES, default 16 MiB, at
	// least 1 MiB) is the Redis memory the event stream may take: it holds
	// as many entries as fit at the largest entry size (events.MaxLen).
	EventStreamMaxBytes int64

	// Browser sessions end after SESSION_IDLE_TIMEOUT without a request
	// (default 30m) or SESSION_ABSOLUTE_TIMEOUT after login (default 12h).
	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration

	// DebugAddr (DEBUG_ADDR, default off) serves net/http/pprof on a
	// loopback address (127.0.0.1:6060, [::1]:6060) for profiling; no
	// compose file publishes it. Any other host is refused.
	DebugAddr string

	// Enrich configures the registry, GitHub and link checks (enrich.go).
	Enrich Enrich
}

// Addr is the listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// Load reads and validates the configuration from getenv, reporting every
// bad variable at once.
func Load(getenv func(string) string) (Config, error) {
	l := env.New(getenv)
	c := Config{
		Port:          l.Port("PORT", 8000),
		LogLevel:      l.LogLevel("LOG_LEVEL"),
		DatabaseURL:   databaseURL(l),
		APIRole:       apiRole(l),
		RedisURL:      redisURL(l, "REDIS_URL", "redis://redis:6379/0"),
		RedisCacheURL: redisURL(l, "REDIS_CACHE_URL", ""),
		CursorKey:     cursorKey(l),

		APIKeysFile:   l.Get("API_KEYS_FILE"),
		AdminUsername: l.String("ADMIN_USERNAME", "admin"),
		AdminPassword: l.Secret("ADMIN_PASSWORD"),
		MetricsToken:  l.Secret("METRICS_TOKEN"),

		InstanceID:       instanceID(l),
		CORSOrigins:      corsOrigins(l),
		AutoMigrate:      l.Bool("AUTO_MIGRATE", false),
		ShutdownDrain:    l.Duration("SHUTDOWN_DRAIN", 5*time.Second, 0, 5*time.Minute),
		RequestTimeout:   l.Duration("REQUEST_TIMEOUT", 15*time.Second, 0, 10*time.Minute),
		DBConnectTimeout: l.Duration("DB_CONNECT_TIMEOUT", time.Minute, time.Millisecond, time.Hour),

		RateLimit:           rateLimit(l, "RATE_LIMIT", "600/m"),
		RateLimitKey:        rateLimit(l, "RATE_LIMIT_KEY", "6000/m"),
		RateLimitLogin:      rateLimit(l, "RATE_LIMIT_LOGIN", "10/m"),
		RateLimitFailClosed: l.Bool("RATE_LIMIT_FAIL_CLOSED", false),
		ReadsRequireAuth:    l.Bool("READS_REQUIRE_AUTH", false),

		EventStreamsPerClient: l.Int("EVENT_STREAMS_PER_CLIENT", 16, 0, 100000),
		EventStreamMaxBytes:   int64(l.Int("EVENT_STREAM_MAX_BYTES", 16<<20, 1<<20, 1<<30)),

		SessionIdleTimeout:     l.Duration("SESSION_IDLE_TIMEOUT", 30*time.Minute, time.Minute, 30*24*time.Hour),
		SessionAbsoluteTimeout: l.Duration("SESSION_ABSOLUTE_TIMEOUT", 12*time.Hour, time.Minute, 30*24*time.Hour),

		DebugAddr: debugAddr(l),

		Enrich: loadEnrich(l),
	}
	trusted, names, err := forwarded.ParseTrustedList(l.Get("TRUSTED_PROXIES"))
	if err != nil {
		l.Fail("TRUSTED_PROXIES", "%v", err)
	}
	c.TrustedProxies, c.TrustedProxyNames = trusted, names
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// debugAddr is DEBUG_ADDR: empty, or a loopback host:port.
func debugAddr(l *env.Loader) string {
	v := l.Get("DEBUG_ADDR")
	if v == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(v)
	ip, perr := netip.ParseAddr(host)
	if err != nil || perr != nil || !ip.IsLoopback() || port == "" {
		l.Fail("DEBUG_ADDR", "%q is not a loopback host:port such as 127.0.0.1:6060", v)
		return ""
	}
	return v
}

// redisURL is the Redis URL in name (or name_FILE), def when unset; an
// empty def leaves it zero.
func redisURL(l *env.Loader, name, def string) secret.Value {
	v := def
	if sv := l.Secret(name); !sv.IsZero() {
		v = sv.Reveal()
	}
	if v == "" {
		return secret.Value{}
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		l.Fail(name, "want redis://[user:password@]host:port/db or rediss://…") // may hold a password: not shown
	}
	return secret.New(v)
}

// cursorKey is CURSOR_KEY (or CURSOR_KEY_FILE): empty, or 32 bytes or more.
func cursorKey(l *env.Loader) secret.Value {
	k := l.Secret("CURSOR_KEY")
	if !k.IsZero() && len(k.Reveal()) < inventory.MinCursorKeyLen {
		l.Fail("CURSOR_KEY", "needs at least %d bytes (e.g. openssl rand -hex 32)", inventory.MinCursorKeyLen)
	}
	return k
}

// instanceID is INSTANCE_ID, default the host name.
func instanceID(l *env.Loader) string {
	id := l.Get("INSTANCE_ID")
	if id == "" {
		id, _ = os.Hostname()
	}
	if len(id) > 128 {
		l.Fail("INSTANCE_ID", "longer than 128 characters")
	}
	return id
}

// corsOrigins is CORS_ORIGINS, normalised to scheme://host[:port].
func corsOrigins(l *env.Loader) []string {
	var out []string
	for _, o := range l.List("CORS_ORIGINS") {
		if o == "*" {
			l.Fail("CORS_ORIGINS", "\"*\" is not allowed: list the origins")
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			l.Fail("CORS_ORIGINS", "%q is not an origin like https://example.com[:port]", o)
			continue
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out
}

// rateLimit is a limit like 600/m, or off (the zero Limit).
func rateLimit(l *env.Loader, name, def string) ratelimit.Limit {
	v := l.String(name, def)
	if strings.EqualFold(v, "off") {
		return ratelimit.Limit{}
	}
	lim, err := ratelimit.ParseLimit(v)
	if err != nil {
		l.Fail(name, "%v (or off)", err)
	}
	return lim
}

// APIRole is the api's PostgreSQL role, as `migrate up` grants it.
type APIRole struct {
	User                     string
	Password                 secret.Value
	StatementTimeout         time.Duration
	IdleInTransactionTimeout time.Duration
}

// apiRole reads DB_API_*: a user needs a password, other than the owner's.
func apiRole(l *env.Loader) APIRole {
	r := APIRole{
		User:                     l.Get("DB_API_USER"),
		Password:                 l.Secret("DB_API_PASSWORD"),
		StatementTimeout:         l.Duration("DB_API_STATEMENT_TIMEOUT", 10*time.Second, 0, time.Hour),
		IdleInTransactionTimeout: l.Duration("DB_API_IDLE_IN_TRANSACTION_TIMEOUT", 30*time.Second, 0, time.Hour),
	}
	switch {
	case r.User == "" && !r.Password.IsZero():
		l.Fail("DB_API_PASSWORD", "is set without DB_API_USER")
	case r.User != "" && r.Password.IsZero():
		l.Fail("DB_API_USER", "needs DB_API_PASSWORD or DB_API_PASSWORD_FILE")
	case r.User != "" && r.User == l.Get("DB_USER"):
		l.Fail("DB_API_USER", "is DB_USER: the api needs a role of its own, not the schema's owner")
	}
	return r
}

// databaseURL returns DATABASE_URL(_FILE), or a URL built from DB_*.
func databaseURL(l *env.Loader) secret.Value {
	parts := []string{"DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_PASSWORD_FILE", "DB_SSLMODE"}
	if direct := l.Secret("DATABASE_URL"); !direct.IsZero() {
		for _, p := range parts {
			if l.Get(p) != "" {
				l.Fail("DATABASE_URL", "DATABASE_URL and %s are both set: use one form", p)
			}
		}
		if u, err := url.Parse(direct.Reveal()); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			l.Fail("DATABASE_URL", "want postgres://user:password@host:port/db?sslmode=…")
		}
		return direct
	}
	host, port := l.String("DB_HOST", "postgres"), l.Int("DB_PORT", 5432, 1, 65535)
	mode := l.String("DB_SSLMODE", "disable")
	switch mode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		l.Fail("DB_SSLMODE", "%q is not a libpq sslmode (disable, require, verify-full, …)", mode)
	}
	pw := l.Secret("DB_PASSWORD")
	user := l.String("DB_USER", "inventory")
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + l.String("DB_NAME", "inventory"),
		RawQuery: url.Values{"sslmode": {mode}}.Encode(),
	}
	if !pw.IsZero() {
		u.User = url.UserPassword(user, pw.Reveal())
	}
	return secret.New(u.String())
}
