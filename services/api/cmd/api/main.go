// Command api is the REST API of the image inventory.
//
// Usage:
//
//	api [serve]      run the service (the default)
//	api healthcheck  exit 0 when the running service answers GET /health
//	api version      print the version and commit
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/services/api/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch cmd {
	case "serve":
		return runServe(ctx, cfg, stdout)
	case "healthcheck":
		return healthcheck.Check(ctx, healthcheck.LoopbackURL(cfg.Addr(), "/health"), 5*time.Second)
	case "version":
		_, err := fmt.Fprintf(stdout, "api %s (commit %s, %s)\n", buildinfo.Version, buildinfo.Commit, buildinfo.GoVersion())
		return err
	default:
		return fmt.Errorf("unknown command %q: want serve, healthcheck or version", cmd)
	}
}

func runServe(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	log := logging.New(stdout, "api", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit)
	ln, err := serve.Listen(ctx, cfg.Addr())
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	return serve.Serve(ctx, ln, mux, log, serve.Options{})
}
