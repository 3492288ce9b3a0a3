// Package serve runs an http.Handler on a listener until a context ends,
// then shuts it down gracefully. It owns the timeouts every service of the
// stack uses, so no server is ever started with Go's unlimited defaults.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Options tune a server. The zero value gives sensible defaults.
type Options struct {
	ReadHeaderTimeout time.Duration // default 5s
	ReadTimeout       time.Duration // default 30s
	// WriteTimeout bounds a whole response. Long streams (SSE) must extend
	// their own deadline with http.ResponseController. Default 60s.
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // default 120s
	// MaxHeaderBytes caps a request's header (request line included);
	// beyond it net/http answers 431 Request Header Fields Too Large
	// before any handler runs, and HTTP/2 takes the same cap for its
	// header lists. Default 16 KiB, net/http's own default is 1 MiB.
	// (net/http reads up to 4 KiB past the cap before it refuses.)
	MaxHeaderBytes int
	// DrainDelay is how long the server keeps serving after the context
	// ends and OnDrain has run, so load balancers notice the failing
	// readiness check before connections are refused. Default 0.
	DrainDelay time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests. Default 15s.
	ShutdownTimeout time.Duration
	// OnDrain runs once when the context ends, before DrainDelay; a
	// service uses it to make its readiness check fail.
	OnDrain func()
	// OnShutdown runs, in its own goroutine, as the server's Shutdown
	// starts; streaming handlers use it to end their streams politely.
	OnShutdown func()
	// HTTP2 tunes HTTP/2 on a TLS listener (e.g. MaxConcurrentStreams);
	// nil keeps net/http's defaults.
	HTTP2 *http.HTTP2Config
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.ReadHeaderTimeout, 5*time.Second)
	def(&o.ReadTimeout, 30*time.Second)
	def(&o.WriteTimeout, 60*time.Second)
	def(&o.IdleTimeout, 120*time.Second)
	def(&o.ShutdownTimeout, 15*time.Second)
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
}

// DefaultMaxHeaderBytes is Options.MaxHeaderBytes' default: room for a
// browser's cookies and every header the stack sends, far below the 1 MiB
// net/http would otherwise read, hold and log per request.
const DefaultMaxHeaderBytes = 16 << 10

// Listen opens a TCP listener on addr. Listening before serving lets
// callers use ":0" and learn the port from the listener.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves h on ln until ctx ends, then drains and shuts down as Run
// does. It returns nil after a clean shutdown and closes ln in every case.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, opts Options) error {
	opts.defaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		HTTP2:             opts.HTTP2,
	}
	return Run(ctx, ln, httpServer{srv}, log, opts)
}

// Server is a server Run can drive: Serve until Shutdown, which stops
// accepting, waits for in-flight requests and makes Serve return nil.
// net/http's server fits through Serve; fasthttp's, with ShutdownWithContext
// as Shutdown, fits as it is wrapped.
type Server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// httpServer makes Serve return nil after a Shutdown, as Server asks.
type httpServer struct{ *http.Server }

func (s httpServer) Serve(ln net.Listener) error {
	if err := s.Server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown closes every connection when the graceful shutdown fails.
func (s httpServer) Shutdown(ctx context.Context) error {
	if err := s.Server.Shutdown(ctx); err != nil {
		_ = s.Server.Close()
		return err
	}
	return nil
}

// Run serves srv on ln until ctx ends, then drains and shuts down: OnDrain,
// DrainDelay, OnShutdown, then srv.Shutdown bounded by ShutdownTimeout. Only
// the drain and shutdown options apply: the server carries its own timeouts.
// It returns nil after a clean shutdown.
func Run(ctx context.Context, ln net.Listener, srv Server, log *slog.Logger, opts Options) error {
	opts.defaults()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		_ = ln.Close()
		if err == nil {
			err = errors.New("server stopped")
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_delay", opts.DrainDelay.String())
	if opts.OnDrain != nil {
		opts.OnDrain()
	}
	if opts.DrainDelay > 0 {
		time.Sleep(opts.DrainDelay)
	}
	if opts.OnShutdown != nil {
		go opts.OnShutdown()
	}
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = ln.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
