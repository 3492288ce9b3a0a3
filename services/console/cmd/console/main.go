// Command console is the observability profile's page: one view over the
// metrics, logs and trace stores (requests, errors, latency per service and
// route, the lb's backends, the api's cache and pool, a trace's spans and
// its log lines), read through a read-only proxy to each store.
//
// Usage:
//
//	console [serve]      run the page (the default)
//	console healthcheck  exit 0 when the running console answers GET /health
//	console probe URL    exit 0 when URL answers 2xx: the HEALTHCHECK of the
//	                     store images, which have no shell and no curl
//	console version      print the version and commit
package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/platform/healthcheck"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/services/console/internal/config"
	"github.com/docker-examples/stack/services/console/internal/site"
)

func main() { command.Main("console", run) }

// run is the whole program; main only wires it to the process.
var run = command.Service[config.Config]{
	Name:  "console",
	Load:  config.Load,
	Serve: runServe,
	Commands: []command.Command[config.Config]{
		// probe checks another process: it needs no configuration.
		{Name: "probe", WithoutConfig: true, Run: probe},
	},
}.Run

func runServe(ctx context.Context, cfg config.Config, _ func(string) string, stdout io.Writer) error {
	log := logging.New(stdout, "console", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit,
		"metrics_url", cfg.MetricsURL.String(), "logs_url", cfg.LogsURL.String(), "traces_url", cfg.TracesURL.String())
	h := site.New(site.Config{MetricsURL: cfg.MetricsURL, LogsURL: cfg.LogsURL, TracesURL: cfg.TracesURL, Links: cfg.Links, Log: log})
	ln, err := serve.Listen(ctx, cfg.Addr())
	if err != nil {
		return err
	}
	return serve.Serve(ctx, ln, h, log, serve.Options{})
}

// probe is `console probe URL`: exit 0 when URL answers 2xx.
func probe(ctx context.Context, _ config.Config, args []string, _ io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: console probe URL")
	}
	return healthcheck.Check(ctx, args[0], 5*time.Second)
}
