package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/lb/internal/admin"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/config"
	"github.com/docker-examples/stack/services/lb/internal/connlimit"
	"github.com/docker-examples/stack/services/lb/internal/discovery"
	"github.com/docker-examples/stack/services/lb/internal/health"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
	"github.com/docker-examples/stack/services/lb/internal/proxy"
	"github.com/docker-examples/stack/services/lb/internal/tlsconf"
)

// resolver is replaced by tests.
var resolver discovery.Resolver = &net.Resolver{PreferGo: true}

// runServe owns the lb's lifecycle: pools, discovery and health loops,
// the handler, the listeners; on ctx's end it fails /health, keeps
// serving for the grace period, ends streams politely and drains.
func runServe(ctx context.Context, cfg config.Config, getenv func(string) string, stdout io.Writer) error {
	log := logging.New(stdout, "lb", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit, "instance", cfg.InstanceName)
	tel, err := telemetry.Start(ctx, "lb", getenv)
	if err != nil {
		return err
	}
	// Spans of the last requests are flushed after the server stopped.
	defer tel.Flush(ctx, log)
	log.Info("tracing", "on", tel.On())

	m := metrics.New()
	streams := proxy.NewStreams()
	streams.Limit(cfg.Limits.MaxStreams, cfg.Limits.MaxStreamsPerClient)
	var accessLog *proxy.AccessLog
	if cfg.AccessLog {
		accessLog = proxy.NewAccessLog(stdout)
	}

	// Loops (discovery, health, log flushing) live until serving ends.
	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopLoops(); wg.Wait() }()
	goLoop := func(f func(context.Context)) { wg.Add(1); go func() { defer wg.Done(); f(loops) }() }

	pools := newPools(ctx, cfg, m, streams, log, goLoop)
	if tel.On() {
		// Each server span is named after the pool the request went to.
		for name, fwd := range pools.handlers {
			pools.handlers[name] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				telemetry.SetRoute(r.Context(), r.Method, name)
				fwd.ServeHTTP(w, r)
			})
		}
	}
	var routes []proxy.Route
	for _, r := range cfg.Routes {
		routes = append(routes, proxy.Route{Path: r.Path, Handler: pools.handlers[r.Pool]})
	}
	own := &proxy.Health{}
	edge := proxy.NewEdge(proxy.NewRouter(routes, own), proxy.EdgeOptions{
		InstanceName: cfg.InstanceName, Trusted: cfg.TrustedProxies, MaxInFlight: cfg.Limits.MaxInFlight,
		MaxInFlightPerClient: cfg.Limits.MaxInFlightPerClient, HSTS: hsts(cfg.TLS.HSTSMaxAge),
		QueueSize: cfg.Limits.QueueSize, QueueTimeout: cfg.Limits.QueueTimeout, AccessLog: accessLog,
	}, m)
	if accessLog != nil {
		goLoop(accessLog.Run)
	}
	state := admin.State{Instance: cfg.InstanceName, Pools: pools.pools, Policies: pools.policies, InFlight: edge.InFlight, Streams: streams.Len}
	m.Register(admin.NewCollector(state))

	// A server span per request (the access log line carries its
	// trace_id), whose traceparent the forwarder sends the backends; an
	// untrusted client's traceparent is dropped.
	servers, err := newListeners(cfg, tel.ContextProxyHandler(edge, nil), own, streams, admin.Handler(state, m.Registry), log)
	refused := m.Rejection("client_connections")
	for i := range servers {
		if servers[i].name != "admin" {
			servers[i].wrap = func(ln net.Listener) net.Listener {
				return connlimit.New(ln, cfg.Limits.MaxConnsPerClient, cfg.TrustedProxies, refused.Inc)
			}
		}
	}
	if err != nil {
		return err
	}
	return serveAll(ctx, servers, log)
}

// pools are the backend pools of the config, each behind its forwarder.
type pools struct {
	handlers map[string]http.Handler // by pool name
	pools    []*balancer.Pool
	policies map[string]string // by pool name, for /status
}

// newPools builds a pool and a forwarder for each configured pool, and
// starts its discovery and health loops with goLoop; each pool has its
// first DNS answer when newPools returns.
func newPools(ctx context.Context, cfg config.Config, m *metrics.Metrics, streams *proxy.Streams, log *slog.Logger,
	goLoop func(func(context.Context))) pools {
	ejector := balancer.Ejector{After: cfg.Health.EjectAfter, Base: cfg.Health.EjectBase, Max: cfg.Health.EjectMax}
	popts := proxy.Options{
		Attempts: cfg.Retry.Attempts, BufferBytes: cfg.Retry.BufferBytes, UpstreamTimeout: cfg.UpstreamTimeout,
		BodyTimeout: cfg.BodyTimeout,
		Trusted:     cfg.TrustedProxies, Ejector: ejector, BudgetRatio: cfg.Retry.BudgetRatio, BudgetMin: cfg.Retry.BudgetMin,
		QueueTimeout: cfg.Limits.QueueTimeout, QueueSize: cfg.Limits.QueueSize,
	}
	ps := pools{handlers: map[string]http.Handler{}, policies: map[string]string{}}
	for _, pc := range cfg.Pools {
		pool := balancer.NewPool(pc.Name, pc.Policy, int64(cfg.Limits.MaxInFlightPerBackend), cfg.Health.SlowStart)
		ps.handlers[pc.Name] = proxy.NewForwarder(pool, popts, m, streams, log)
		ps.pools = append(ps.pools, pool)
		ps.policies[pc.Name] = pc.Policy.String()
		pm := m.Pool(pc.Name)
		w := &discovery.Watcher{
			Pool: pc.Name, Upstreams: pc.Upstreams, Allowed: cfg.UpstreamCIDRs, Resolver: resolver,
			Log: log, Interval: cfg.Discovery.Interval, KeepStale: cfg.Discovery.KeepStale, SwarmTasks: cfg.Discovery.SwarmTasks,
			Sink: func(addrs []netip.AddrPort, now time.Time) (int, int) {
				added, removed := pool.Update(addrs, now)
				return len(added), len(removed)
			},
			OnChange: func(added, removed int) { pm.Added.Add(float64(added)); pm.Removed.Add(float64(removed)) },
		}
		w.Resolve(ctx) // the first answer before the first request
		goLoop(w.Run)
		chk := &health.Checker{
			Pool: pool, Path: pc.HealthPath, Interval: cfg.Health.Interval, Timeout: cfg.Health.Timeout,
			Jitter: cfg.Health.Jitter, Rise: cfg.Health.Rise, Fall: cfg.Health.Fall, Log: log,
		}
		goLoop(chk.Run)
	}
	return ps
}

// listener is one server of the lb.
type listener struct {
	name string
	addr string
	h    http.Handler
	tls  *tls.Config
	opts serve.Options
	// wrap, when set, wraps the listener below TLS (the per-client
	// connection cap).
	wrap func(net.Listener) net.Listener
}

// newListeners is the lb's servers: https (unless HTTPS_PORT is 0), http
// (a redirect to https with REDIRECT_HTTPS) and admin (unless ADMIN_PORT
// is 0).
func newListeners(cfg config.Config, edge http.Handler, own *proxy.Health, streams *proxy.Streams, adminHandler http.Handler,
	log *slog.Logger) ([]listener, error) {
	opts := serve.Options{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		WriteTimeout:      5 * time.Minute, // streams lift it for themselves
		IdleTimeout:       75 * time.Second,
		DrainDelay:        cfg.GracePeriod,
		ShutdownTimeout:   cfg.ShutdownTimeout,
		OnDrain:           own.Drain,
		OnShutdown:        streams.CloseAll,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: cfg.Limits.HTTP2MaxStreams},
	}
	var servers []listener
	plain := edge
	if cfg.HTTPSPort != 0 {
		tc, err := tlsConfig(cfg, log)
		if err != nil {
			return nil, err
		}
		servers = append(servers, listener{"https", cfg.HTTPSAddr(), edge, tc, opts, nil})
		if cfg.TLS.RedirectHTTP {
			plain = redirect(own, edge, cfg.TLS.RedirectPort)
		}
	}
	servers = append(servers, listener{"http", cfg.Addr(), plain, nil, opts, nil})
	if cfg.AdminPort != 0 {
		aopts := serve.Options{DrainDelay: cfg.GracePeriod, ShutdownTimeout: 5 * time.Second}
		servers = append(servers, listener{"admin", cfg.AdminAddr(), adminHandler, nil, aopts, nil})
	}
	return servers, nil
}

// serveAll listens on every address before serving any (a port in use
// stops the lb at once), then serves each until ctx ends or one fails,
// which stops the others.
func serveAll(ctx context.Context, servers []listener, log *slog.Logger) error {
	lns := make([]net.Listener, len(servers))
	for i, s := range servers {
		ln, err := serve.Listen(ctx, s.addr)
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return err
		}
		if s.wrap != nil {
			ln = s.wrap(ln)
		}
		if s.tls != nil {
			ln = tls.NewListener(ln, s.tls)
		}
		lns[i] = ln
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(servers))
	for i, s := range servers {
		go func() {
			err := serve.Serve(sctx, lns[i], s.h, log.With("listener", s.name), s.opts)
			if err != nil {
				err = fmt.Errorf("%s listener: %w", s.name, err)
			}
			cancel() // one listener failing stops the others
			errs <- err
		}()
	}
	var all []error
	for range servers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func tlsConfig(cfg config.Config, log *slog.Logger) (*tls.Config, error) {
	if cfg.TLS.CertFile != "" {
		r, err := tlsconf.NewReloader(cfg.TLS.CertFile, cfg.TLS.KeyFile, log)
		if err != nil {
			return nil, err
		}
		return tlsconf.Config(r.GetCertificate), nil
	}
	cert, err := tlsconf.SelfSigned([]string{cfg.InstanceName}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("self-signed certificate: %w", err)
	}
	log.Warn("NO TLS CERTIFICATE CONFIGURED: serving HTTPS with a SELF-SIGNED DEVELOPMENT certificate that browsers will reject; set TLS_CERT_FILE and TLS_KEY_FILE (e.g. Docker secrets) for anything but development",
		"not_after", cert.Leaf.NotAfter)
	return tlsconf.Config(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }), nil
}

// redirect answers plain HTTP with a permanent redirect to HTTPS, except
// the lb's own /health (Docker's health check speaks plain HTTP on
// loopback) and ACME HTTP-01 challenges (/.well-known/acme-challenge/,
// which a certificate authority fetches over plain HTTP), which edge
// forwards like any request.
func redirect(own, edge http.Handler, httpsPort int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/health":
			own.ServeHTTP(w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/"):
			edge.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if httpsPort != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(httpsPort))
		}
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// hsts is the Strict-Transport-Security value for maxAge ("" for 0).
func hsts(maxAge time.Duration) string {
	if maxAge <= 0 {
		return ""
	}
	return "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
}
