// Package config reads the lb's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
//
// Routes and pools come from the environment (API_UPSTREAM,
// FRONTEND_UPSTREAM, ...) or, when LB_CONFIG_FILE is set, from that JSON
// file (see File); every other setting comes from the environment.
package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/env"
)

// Config is everything the lb reads from its environment.
type Config struct {
	Port      int // PORT: plain HTTP listener, default 80
	HTTPSPort int // HTTPS_PORT: TLS listener, default 443; 0 disables it
	AdminPort int // ADMIN_PORT: metrics, /status and pprof, default 9090; 0 disables it

	LogLevel  slog.Level // LOG_LEVEL: debug, info, warn, error
	AccessLog bool       // ACCESS_LOG: one JSON line per request, default true

	// InstanceName is sent in X-Served-By (INSTANCE_NAME, default the host name).
	InstanceName string

	Routes []Route // from the file or the default table
	Pools  []Pool  // from the file or *_UPSTREAM variables

	// UpstreamCIDRs are the networks discovered addresses must be in
	// (UPSTREAM_CIDRS, default the private and loopback ranges).
	UpstreamCIDRs []netip.Prefix
	// TrustedProxies are the peers whose X-Forwarded-* values are kept
	// (TRUSTED_PROXIES, default none).
	TrustedProxies []netip.Prefix

	Discovery Discovery
	Health    Health
	Retry     Retry
	Limits    Limits
	TLS       TLS

	// UpstreamTimeout bounds connecting to a backend, sending the request
	// and receiving the response header (UPSTREAM_TIMEOUT, default 30s).
	// Bodies and streams are not bounded by it.
	UpstreamTimeout time.Duration
	// BodyTimeout bounds reading a request's body (CLIENT_BODY_TIMEOUT,
	// default 30s): a body trickled slower gets 408.
	BodyTimeout time.Duration
	// GracePeriod is how long the lb keeps serving after SIGTERM while its
	// /health fails (GRACE_PERIOD, default 5s).
	GracePeriod time.Duration
	// ShutdownTimeout bounds draining in-flight requests after the grace
	// period (SHUTDOWN_TIMEOUT, default 20s).
	ShutdownTimeout time.Duration
}

// Discovery tunes DNS discovery.
type Discovery struct {
	Interval time.Duration // DISCOVERY_INTERVAL, default 1s
	// KeepStale is how long the last good set survives empty answers and
	// lookup errors (DISCOVERY_KEEP_STALE, default 30s).
	KeepStale time.Duration
	// SwarmTasks makes discovery try tasks.<name> first (DISCOVERY_SWARM_TASKS, default true).
	SwarmTasks bool
}

// Health tunes active checks and passive ejection.
type Health struct {
	Interval time.Duration // HEALTH_INTERVAL, default 2s
	Timeout  time.Duration // HEALTH_TIMEOUT, default 1s
	Jitter   time.Duration // HEALTH_JITTER, default 500ms
	Rise     int           // HEALTH_RISE, default 2
	Fall     int           // HEALTH_FALL, default 2
	// EjectAfter consecutive connect errors or 5xx eject a backend
	// (EJECT_AFTER, default 3).
	EjectAfter int
	EjectBase  time.Duration // EJECT_BASE, default 2s, doubled on each ejection
	EjectMax   time.Duration // EJECT_MAX, default 60s
	SlowStart  time.Duration // SLOW_START, default 10s; 0 disables
}

// Retry tunes retries.
type Retry struct {
	Attempts int // RETRY_ATTEMPTS: retries after the first try, default 2
	// BudgetRatio is the share of requests that may be retried on top of
	// BudgetMin per second (RETRY_BUDGET_RATIO, default 0.2).
	BudgetRatio float64
	BudgetMin   int // RETRY_BUDGET_MIN per second, default 10
	// BufferBytes is the largest request body kept for replay
	// (RETRY_BUFFER_BYTES, default 65536).
	BufferBytes int
}

// Limits are the overload protections.
type Limits struct {
	MaxInFlight           int           // MAX_INFLIGHT overall, default 10000
	MaxInFlightPerBackend int           // MAX_INFLIGHT_PER_BACKEND, default 1000
	QueueSize             int           // QUEUE_SIZE, default 1000
	QueueTimeout          time.Duration // QUEUE_TIMEOUT, default 1s
	// MaxStreams caps the event streams and WebSocket tunnels open at once
	// (MAX_STREAMS, default 2000); they do not count against MaxInFlight
	// nor MaxInFlightPerBackend.
	MaxStreams int
	// MaxStreamsPerClient caps them per client address
	// (MAX_STREAMS_PER_CLIENT, default 16; 0 disables).
	MaxStreamsPerClient int
	// MaxInFlightPerClient caps one client address's requests in flight
	// (MAX_INFLIGHT_PER_CLIENT, default 512; 0 disables): 429 beyond.
	MaxInFlightPerClient int
	// MaxConnsPerClient caps the connections one peer address holds open
	// on the public listeners (MAX_CONNS_PER_CLIENT, default 256; 0
	// disables); TRUSTED_PROXIES peers are not capped.
	MaxConnsPerClient int
	// HTTP2MaxStreams caps the concurrent requests on one HTTP/2
	// connection (HTTP2_MAX_STREAMS, default 100).
	HTTP2MaxStreams int
}

// TLS configures the HTTPS listener.
type TLS struct {
	CertFile string // TLS_CERT_FILE (e.g. /run/secrets/tls_cert)
	KeyFile  string // TLS_KEY_FILE
	// RedirectHTTP answers plain HTTP with a redirect to https (REDIRECT_HTTPS, default false).
	RedirectHTTP bool
	// RedirectPort is the port the redirect names (REDIRECT_HTTPS_PORT,
	// default HTTPS_PORT): the one clients reach HTTPS on, when a
	// published port differs from the one the lb listens on.
	RedirectPort int
	// HSTSMaxAge is the max-age of the Strict-Transport-Security header
	// sent on every HTTPS answer (HSTS_MAX_AGE, default 8760h; 0 sends none).
	HSTSMaxAge time.Duration
}

// Addr is the plain HTTP listen address.
func (c Config) Addr() string { return fmt.Sprintf(":%d", c.Port) }

// HTTPSAddr is the TLS listen address.
func (c Config) HTTPSAddr() string { return fmt.Sprintf(":%d", c.HTTPSPort) }

// AdminAddr is the admin listen address.
func (c Config) AdminAddr() string { return fmt.Sprintf(":%d", c.AdminPort) }

// DefaultUpstreamCIDRs are the networks Docker hands out addresses from.
var DefaultUpstreamCIDRs = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("::1/128"),
}

// Load reads and validates the configuration from getenv. readFile reads
// LB_CONFIG_FILE; pass os.ReadFile.
func Load(getenv func(string) string) (Config, error) {
	return load(getenv, os.ReadFile)
}

func load(getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	l := env.New(getenv)
	c := Config{
		Port:            l.Port("PORT", 80),
		HTTPSPort:       l.Port("HTTPS_PORT", 443),
		AdminPort:       l.Port("ADMIN_PORT", 9090),
		LogLevel:        l.LogLevel("LOG_LEVEL"),
		AccessLog:       l.Bool("ACCESS_LOG", true),
		InstanceName:    instanceName(l),
		UpstreamCIDRs:   l.Prefixes("UPSTREAM_CIDRS", DefaultUpstreamCIDRs),
		TrustedProxies:  l.Prefixes("TRUSTED_PROXIES", nil),
		UpstreamTimeout: l.Duration("UPSTREAM_TIMEOUT", 30*time.Second, time.Millisecond, day),
		BodyTimeout:     l.Duration("CLIENT_BODY_TIMEOUT", 30*time.Second, 0, day),
		GracePeriod:     l.Duration("GRACE_PERIOD", 5*time.Second, 0, day),
		ShutdownTimeout: l.Duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Second, day),
		Discovery: Discovery{
			Interval:   l.Duration("DISCOVERY_INTERVAL", time.Second, 100*time.Millisecond, day),
			KeepStale:  l.Duration("DISCOVERY_KEEP_STALE", 30*time.Second, 0, day),
			SwarmTasks: l.Bool("DISCOVERY_SWARM_TASKS", true),
		},
		Health: Health{
			Interval:   l.Duration("HEALTH_INTERVAL", 2*time.Second, 100*time.Millisecond, day),
			Timeout:    l.Duration("HEALTH_TIMEOUT", time.Second, 10*time.Millisecond, day),
			Jitter:     l.Duration("HEALTH_JITTER", 500*time.Millisecond, 0, day),
			Rise:       l.Int("HEALTH_RISE", 2, 1, 100),
			Fall:       l.Int("HEALTH_FALL", 2, 1, 100),
			EjectAfter: l.Int("EJECT_AFTER", 3, 1, 1000),
			EjectBase:  l.Duration("EJECT_BASE", 2*time.Second, time.Millisecond, day),
			EjectMax:   l.Duration("EJECT_MAX", 60*time.Second, time.Millisecond, day),
			SlowStart:  l.Duration("SLOW_START", 10*time.Second, 0, day),
		},
		Retry: Retry{
			Attempts:    l.Int("RETRY_ATTEMPTS", 2, 0, 10),
			BudgetRatio: l.Float("RETRY_BUDGET_RATIO", 0.2, 0, 10),
			BudgetMin:   l.Int("RETRY_BUDGET_MIN", 10, 0, 1_000_000),
			BufferBytes: l.Int("RETRY_BUFFER_BYTES", 64<<10, 0, 16<<20),
		},
		Limits: Limits{
			MaxInFlight:           l.Int("MAX_INFLIGHT", 10000, 1, 10_000_000),
			MaxInFlightPerBackend: l.Int("MAX_INFLIGHT_PER_BACKEND", 1000, 1, 10_000_000),
			QueueSize:             l.Int("QUEUE_SIZE", 1000, 0, 10_000_000),
			QueueTimeout:          l.Duration("QUEUE_TIMEOUT", time.Second, 0, day),
			MaxStreams:            l.Int("MAX_STREAMS", 2000, 1, 10_000_000),
			MaxStreamsPerClient:   l.Int("MAX_STREAMS_PER_CLIENT", 16, 0, 10_000_000),
			MaxInFlightPerClient:  l.Int("MAX_INFLIGHT_PER_CLIENT", 512, 0, 10_000_000),
			MaxConnsPerClient:     l.Int("MAX_CONNS_PER_CLIENT", 256, 0, 10_000_000),
			HTTP2MaxStreams:       l.Int("HTTP2_MAX_STREAMS", 100, 1, 10_000),
		},
		TLS: TLS{
			CertFile:     l.Get("TLS_CERT_FILE"),
			KeyFile:      l.Get("TLS_KEY_FILE"),
			RedirectHTTP: l.Bool("REDIRECT_HTTPS", false),
			RedirectPort: l.Int("REDIRECT_HTTPS_PORT", 0, 1, 65535),
			HSTSMaxAge:   l.Duration("HSTS_MAX_AGE", 365*day, 0, 2*365*day),
		},
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		l.Fail("TLS_CERT_FILE and TLS_KEY_FILE", "set both or neither")
	}
	if c.TLS.RedirectHTTP && c.HTTPSPort == 0 {
		l.Fail("REDIRECT_HTTPS", "needs HTTPS_PORT")
	}
	if c.TLS.RedirectPort == 0 {
		c.TLS.RedirectPort = c.HTTPSPort
	}
	if c.Health.EjectMax < c.Health.EjectBase {
		l.Fail("EJECT_MAX", "must not be below EJECT_BASE")
	}
	if path := l.Get("LB_CONFIG_FILE"); path != "" {
		if b, err := readFile(path); err != nil {
			l.Fail("LB_CONFIG_FILE", "%v", err)
		} else if f, err := ParseFile(b); err != nil {
			l.Fail("LB_CONFIG_FILE", "%s: %v", path, err)
		} else {
			c.Routes, c.Pools = f.Routes, f.Pools
		}
	} else {
		c.Routes = DefaultRoutes()
		c.Pools = []Pool{envPool(l, "api", "API", "api:8000"), envPool(l, "frontend", "FRONTEND", "frontend:3000")}
	}
	if err := l.Err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// day bounds every duration setting.
const day = 24 * time.Hour

// instanceName is INSTANCE_NAME, default the host name.
func instanceName(l *env.Loader) string {
	n := l.Get("INSTANCE_NAME")
	if n == "" {
		n, _ = os.Hostname()
	}
	if !validToken(n) {
		l.Fail("INSTANCE_NAME", "%q must be 1-64 letters, digits, '.', '-' or '_'", n)
	}
	return n
}

// envPool is the pool name from PREFIX_UPSTREAM (default def),
// PREFIX_POLICY and PREFIX_HEALTH_PATH.
func envPool(l *env.Loader, name, prefix, def string) Pool {
	return Pool{
		Name:       name,
		Upstreams:  env.Parse(l, prefix+"_UPSTREAM", mustUpstreams(def), ParseUpstreams),
		Policy:     env.Parse(l, prefix+"_POLICY", Policy{Kind: RoundRobin}, ParsePolicy),
		HealthPath: env.Parse(l, prefix+"_HEALTH_PATH", "/health", parseHealthPath),
	}
}

func mustUpstreams(s string) []Upstream {
	ups, err := ParseUpstreams(s)
	if err != nil {
		panic(err) // a default of this package
	}
	return ups
}

func parseHealthPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q must start with /", p)
	}
	return p, nil
}

// DefaultRoutes is the seed's nginx routing: /api/*, /docs and
// /openapi.json to the api pool, everything else to the frontend pool.
func DefaultRoutes() []Route {
	return []Route{
		{Path: "/api/", Pool: "api"},
		{Path: "/api", Pool: "api"},
		{Path: "/docs", Pool: "api"},
		{Path: "/docs/", Pool: "api"},
		{Path: "/openapi.json", Pool: "api"},
		{Path: "/", Pool: "frontend"},
	}
}

func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
