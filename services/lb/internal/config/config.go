// Package config reads the lb's configuration from the environment once,
// at start-up, and validates it: a bad value stops the service with a
// message that names the variable.
//
// Routes and pools come from the environment (API_UPSTREAM,
// FRONTEND_UPSTREAM, ...) or, when LB_CONFIG_FILE is set, from that JSON
// file (see File); every other setting comes from the environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/logging"
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
}

// TLS configures the HTTPS listener.
type TLS struct {
	CertFile string // TLS_CERT_FILE (e.g. /run/secrets/tls_cert)
	KeyFile  string // TLS_KEY_FILE
	// RedirectHTTP answers plain HTTP with a redirect to https (REDIRECT_HTTPS, default false).
	RedirectHTTP bool
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
	p := parser{getenv: getenv}
	c := Config{
		Port:            p.port("PORT", 80),
		HTTPSPort:       p.port("HTTPS_PORT", 443),
		AdminPort:       p.port("ADMIN_PORT", 9090),
		AccessLog:       p.boolean("ACCESS_LOG", true),
		InstanceName:    getenv("INSTANCE_NAME"),
		UpstreamCIDRs:   p.cidrs("UPSTREAM_CIDRS", DefaultUpstreamCIDRs),
		TrustedProxies:  p.cidrs("TRUSTED_PROXIES", nil),
		UpstreamTimeout: p.duration("UPSTREAM_TIMEOUT", 30*time.Second, time.Millisecond),
		GracePeriod:     p.duration("GRACE_PERIOD", 5*time.Second, 0),
		ShutdownTimeout: p.duration("SHUTDOWN_TIMEOUT", 20*time.Second, time.Second),
		Discovery: Discovery{
			Interval:   p.duration("DISCOVERY_INTERVAL", time.Second, 100*time.Millisecond),
			KeepStale:  p.duration("DISCOVERY_KEEP_STALE", 30*time.Second, 0),
			SwarmTasks: p.boolean("DISCOVERY_SWARM_TASKS", true),
		},
		Health: Health{
			Interval:   p.duration("HEALTH_INTERVAL", 2*time.Second, 100*time.Millisecond),
			Timeout:    p.duration("HEALTH_TIMEOUT", time.Second, 10*time.Millisecond),
			Jitter:     p.duration("HEALTH_JITTER", 500*time.Millisecond, 0),
			Rise:       p.integer("HEALTH_RISE", 2, 1, 100),
			Fall:       p.integer("HEALTH_FALL", 2, 1, 100),
			EjectAfter: p.integer("EJECT_AFTER", 3, 1, 1000),
			EjectBase:  p.duration("EJECT_BASE", 2*time.Second, time.Millisecond),
			EjectMax:   p.duration("EJECT_MAX", 60*time.Second, time.Millisecond),
			SlowStart:  p.duration("SLOW_START", 10*time.Second, 0),
		},
		Retry: Retry{
			Attempts:    p.integer("RETRY_ATTEMPTS", 2, 0, 10),
			BudgetRatio: p.ratio("RETRY_BUDGET_RATIO", 0.2),
			BudgetMin:   p.integer("RETRY_BUDGET_MIN", 10, 0, 1_000_000),
			BufferBytes: p.integer("RETRY_BUFFER_BYTES", 64<<10, 0, 16<<20),
		},
		Limits: Limits{
			MaxInFlight:           p.integer("MAX_INFLIGHT", 10000, 1, 10_000_000),
			MaxInFlightPerBackend: p.integer("MAX_INFLIGHT_PER_BACKEND", 1000, 1, 10_000_000),
			QueueSize:             p.integer("QUEUE_SIZE", 1000, 0, 10_000_000),
			QueueTimeout:          p.duration("QUEUE_TIMEOUT", time.Second, 0),
		},
		TLS: TLS{
			CertFile:     getenv("TLS_CERT_FILE"),
			KeyFile:      getenv("TLS_KEY_FILE"),
			RedirectHTTP: p.boolean("REDIRECT_HTTPS", false),
		},
	}
	lvl, err := logging.ParseLevel(getenv("LOG_LEVEL"))
	if err != nil {
		p.errs = append(p.errs, err)
	}
	c.LogLevel = lvl
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.errs = append(p.errs, errors.New("TLS_CERT_FILE and TLS_KEY_FILE: set both or neither"))
	}
	if c.TLS.RedirectHTTP && c.HTTPSPort == 0 {
		p.errs = append(p.errs, errors.New("REDIRECT_HTTPS: needs HTTPS_PORT"))
	}
	if c.Health.EjectMax < c.Health.EjectBase {
		p.errs = append(p.errs, errors.New("EJECT_MAX: must not be below EJECT_BASE"))
	}
	if c.InstanceName == "" {
		c.InstanceName, _ = os.Hostname()
	}
	if !validToken(c.InstanceName) {
		p.errs = append(p.errs, fmt.Errorf("INSTANCE_NAME: %q must be 1-64 letters, digits, '.', '-' or '_'", c.InstanceName))
	}

	if path := getenv("LB_CONFIG_FILE"); path != "" {
		b, err := readFile(path)
		if err != nil {
			p.errs = append(p.errs, fmt.Errorf("LB_CONFIG_FILE: %w", err))
		} else if f, err := ParseFile(b); err != nil {
			p.errs = append(p.errs, fmt.Errorf("LB_CONFIG_FILE %s: %w", path, err))
		} else {
			c.Routes, c.Pools = f.Routes, f.Pools
		}
	} else {
		c.Routes, c.Pools = p.envPools()
	}
	if err := errors.Join(p.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// envPools builds the default route table and its two pools from
// API_* and FRONTEND_* variables.
func (p *parser) envPools() ([]Route, []Pool) {
	pools := []Pool{
		p.envPool("api", "API", "api:8000"),
		p.envPool("frontend", "FRONTEND", "frontend:3000"),
	}
	return DefaultRoutes(), pools
}

func (p *parser) envPool(name, prefix, def string) Pool {
	pool := Pool{Name: name, HealthPath: "/health"}
	v := p.getenv(prefix + "_UPSTREAM")
	if v == "" {
		v = def
	}
	ups, err := ParseUpstreams(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s_UPSTREAM: %w", prefix, err))
	}
	pool.Upstreams = ups
	pol, err := ParsePolicy(p.getenv(prefix + "_POLICY"))
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s_POLICY: %w", prefix, err))
	}
	pool.Policy = pol
	if hp := p.getenv(prefix + "_HEALTH_PATH"); hp != "" {
		if !strings.HasPrefix(hp, "/") {
			p.errs = append(p.errs, fmt.Errorf("%s_HEALTH_PATH: %q must start with /", prefix, hp))
		}
		pool.HealthPath = hp
	}
	return pool
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

type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) port(name string, def int) int {
	return p.integer(name, def, 0, 65535)
}

func (p *parser) integer(name string, def, lo, hi int) int {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a whole number in %d-%d", name, v, lo, hi))
		return def
	}
	return n
}

func (p *parser) ratio(name string, def float64) float64 {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 10 {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a number in 0-10", name, v))
		return def
	}
	return f
}

func (p *parser) duration(name string, def, lo time.Duration) time.Duration {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > 24*time.Hour {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not a duration between %s and 24h (e.g. 1500ms, 2s)", name, v, lo))
		return def
	}
	return d
}

func (p *parser) boolean(name string, def bool) bool {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %q is not true or false", name, v))
		return def
	}
	return b
}

func (p *parser) cidrs(name string, def []netip.Prefix) []netip.Prefix {
	v := p.getenv(name)
	if v == "" {
		return def
	}
	ps, err := ParseCIDRs(v)
	if err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", name, err))
		return def
	}
	return ps
}

// ParseCIDRs reads a comma-separated list of CIDRs; a bare address is
// taken as a single-host prefix.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(f); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR (e.g. 10.0.0.0/8) or an address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
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
