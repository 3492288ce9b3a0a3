// Command lb is the HTTP load balancer in front of the api and frontend pools.
//
// Usage:
//
//	lb [serve]      run the service (the default)
//	lb check        validate the configuration (environment and LB_CONFIG_FILE) and print it
//	lb healthcheck  exit 0 when the running service answers GET /health
//	lb version      print the version and commit
package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/services/lb/internal/config"
)

func main() { command.Main("lb", run) }

// run is the whole program; main only wires it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		if cmd == "check" {
			return fmt.Errorf("configuration is invalid:\n%w", err)
		}
		return err
	}
	switch cmd {
	case "serve":
		return runServe(ctx, cfg, getenv, stdout)
	case "check":
		return printConfig(stdout, cfg)
	case "healthcheck":
		return healthcheck.Check(ctx, healthcheck.LoopbackURL(cfg.Addr(), "/health"), 5*time.Second)
	case "version":
		return command.Version(stdout, "lb")
	default:
		return fmt.Errorf("unknown command %q: want serve, check, healthcheck or version", cmd)
	}
}

// printConfig is `lb check`: the routes and pools as the lb will use them.
func printConfig(w io.Writer, cfg config.Config) error {
	fmt.Fprintln(w, "configuration OK")
	fmt.Fprintf(w, "listen: http :%d, https :%d, admin :%d (0 = off)\n", cfg.Port, cfg.HTTPSPort, cfg.AdminPort)
	fmt.Fprintln(w, "routes:")
	for _, r := range cfg.Routes {
		kind := "exact "
		if r.Path[len(r.Path)-1] == '/' {
			kind = "prefix"
		}
		fmt.Fprintf(w, "  %s %-16s -> %s\n", kind, r.Path, r.Pool)
	}
	fmt.Fprintln(w, "  always: /health answered by the lb, /metrics and /metrics/* -> 404")
	fmt.Fprintln(w, "pools:")
	for _, p := range cfg.Pools {
		fmt.Fprintf(w, "  %s: upstreams %v, policy %s, health check GET %s\n", p.Name, p.Upstreams, p.Policy, p.HealthPath)
	}
	_, err := fmt.Fprintf(w, "tls: %s\n", tlsSummary(cfg))
	return err
}

func tlsSummary(cfg config.Config) string {
	switch {
	case cfg.HTTPSPort == 0:
		return "off"
	case cfg.TLS.CertFile != "":
		return "certificate from " + cfg.TLS.CertFile + " (reloaded on change)"
	default:
		return "SELF-SIGNED development certificate (set TLS_CERT_FILE and TLS_KEY_FILE)"
	}
}
