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

	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/services/lb/internal/config"
)

func main() { command.Main("lb", run) }

// run is the whole program; main only wires it to the process.
var run = command.Service[config.Config]{
	Name:     "lb",
	Load:     config.Load,
	Serve:    runServe,
	Commands: []command.Command[config.Config]{{Name: "check", Run: printConfig}},
}.Run

// printConfig is `lb check`: the routes and pools as the lb will use them.
// A configuration that does not load fails before, each bad variable named.
func printConfig(_ context.Context, cfg config.Config, _ []string, w io.Writer) error {
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
