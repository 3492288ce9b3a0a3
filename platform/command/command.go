// Package command runs a service binary: Main is the whole of every
// cmd/*/main.go of the stack, and Service its one dispatcher of
// subcommands (serve, healthcheck, version and the service's own). The
// program itself is a RunFunc, which tests call directly.
package command

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/docker-examples/stack/platform/buildinfo"
)

// RunFunc is a whole program. ctx ends when the process is asked to stop;
// args are the arguments after the program name; getenv looks up the
// environment; stdout is where the program's output and logs go. A nil
// error is exit status 0.
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error

// Main runs run as the process named name, its garbage collector set by
// SetGC from the container's memory limit: with a context that ends on
// SIGINT or SIGTERM, os.Args[1:], os.Getenv and os.Stdout. When run
// returns an error, Main prints "name: error" to standard error and exits
// with status 1; otherwise it returns.
func Main(name string, run RunFunc) {
	if _, err := SetGC(os.Getenv, memlimit.FromCgroup); err != nil {
		fmt.Fprintf(os.Stderr, "%s: GOMEMLIMIT left unset: %v\n", name, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Version is the `version` subcommand: it writes one line to w with name,
// the version and commit the binary was built from, and its Go release.
func Version(w io.Writer, name string) error {
	_, err := fmt.Fprintf(w, "%s %s (commit %s, %s)\n", name, buildinfo.Version, buildinfo.Commit, buildinfo.GoVersion())
	return err
}
