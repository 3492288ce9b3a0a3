// Command frontend is the web UI of the image inventory.
//
// Usage:
//
//	frontend [serve]      run the service (the default)
//	frontend healthcheck  exit 0 when the running service answers GET /health
//	frontend version      print the version and commit
//	frontend export-assets DIR
//	                      write the UI as served (fingerprinted names, .gz and
//	                      .br variants) into DIR, for a static web server
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/serve"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
	"github.com/docker-examples/stack/services/frontend/internal/config"
	"github.com/docker-examples/stack/services/frontend/internal/site"
	"github.com/docker-examples/stack/services/frontend/internal/web"
)

func main() { command.Main("frontend", run) }

// run is the whole program; main only wires it to the process.
var run = command.Service[config.Config]{
	Name:     "frontend",
	Load:     config.Load,
	Serve:    runServe,
	Commands: []command.Command[config.Config]{{Name: "export-assets", Run: exportAssets}},
}.Run

func runServe(ctx context.Context, cfg config.Config, getenv func(string) string, stdout io.Writer) error {
	log := logging.New(stdout, "frontend", cfg.LogLevel)
	log.Info("starting", "version", buildinfo.Version, "commit", buildinfo.Commit, "api_url", cfg.APIURL.String())
	tel, err := telemetry.Start(ctx, "frontend", getenv)
	if err != nil {
		return err
	}
	// Spans of the last requests are flushed after the server stopped.
	defer tel.Flush(ctx, log)
	log.Info("tracing", "on", tel.On())
	start := time.Now()
	ui, err := assets.Build(web.FS())
	if err != nil {
		return err
	}
	log.Info("assets ready", "files", len(ui.Files()), "took", time.Since(start).String())
	reg := prometheus.NewRegistry()
	h, err := site.New(site.Config{UI: ui, APIURL: cfg.APIURL, Log: log, Registry: reg, Telemetry: tel})
	if err != nil {
		return err
	}
	ln, err := serve.Listen(ctx, cfg.Addr())
	if err != nil {
		return err
	}
	return serve.Run(ctx, ln, h.Server(), log, serve.Options{OnShutdown: h.Shutdown})
}

// exportAssets is `frontend export-assets DIR`: it writes the UI as the
// service serves it into DIR and prints what the first view (index.html
// and everything it loads) weighs.
func exportAssets(_ context.Context, _ config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: frontend export-assets DIR")
	}
	dir := args[0]
	ui, err := assets.Build(web.FS())
	if err != nil {
		return err
	}
	if err := ui.Export(dir); err != nil {
		return err
	}
	var plain, gz, br int
	for _, f := range ui.Closure("/index.html") {
		plain += f.Size("")
		gz += f.Size("gzip")
		br += f.Size("br")
		if _, err := fmt.Fprintf(stdout, "%-48s %7d %7d %7d\n", f.URLPath, f.Size(""), f.Size("gzip"), f.Size("br")); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stdout, "first view: %d bytes, %d gzip, %d brotli\n", plain, gz, br)
	return err
}
