package command

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/healthcheck"
)

// Config is what a service's configuration must tell the dispatcher: the
// address serve listens on (":8000"), which healthcheck asks on loopback.
type Config interface {
	Addr() string
}

// Service is a service binary's subcommands, written once for every
// service of the stack:
//
//	NAME [serve]      Serve, the default
//	NAME <command>    each of Commands
//	NAME healthcheck  exit 0 when the running service answers GET /health
//	                  on loopback at the configured port (the image's
//	                  HEALTHCHECK: it needs no shell nor curl)
//	NAME version      print the version and commit (needs no configuration)
//
// Every subcommand but version, and commands marked WithoutConfig, first
// loads the configuration; an error loading it is returned as Load
// returns it. Its Run method is the program's RunFunc.
type Service[C Config] struct {
	// Name is the binary's name, for version and in errors.
	Name string
	// Load reads and checks the configuration from the environment.
	Load func(getenv func(string) string) (C, error)
	// Serve runs the service until ctx ends.
	Serve func(ctx context.Context, cfg C, getenv func(string) string, stdout io.Writer) error
	// Commands are the service's own subcommands besides serve,
	// healthcheck and version, in the order an unknown command's error
	// lists them.
	Commands []Command[C]
}

// Command is one of a service's own subcommands.
type Command[C Config] struct {
	Name string
	// Run gets the configuration and the arguments after the command's
	// name.
	Run func(ctx context.Context, cfg C, args []string, stdout io.Writer) error
	// WithoutConfig runs the command without loading the configuration
	// (cfg is C's zero value): for a command that must work whatever the
	// environment holds.
	WithoutConfig bool
}

// healthcheckTimeout bounds the healthcheck subcommand's request.
const healthcheckTimeout = 5 * time.Second

// Run runs the subcommand args[0] (serve when args is empty) with the
// rest of args. It is a RunFunc.
func (s Service[C]) Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	name := "serve"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	cmd, ok := s.command(name, getenv)
	if !ok {
		return fmt.Errorf("unknown command %q: want %s", name, s.names())
	}
	var cfg C
	if !cmd.WithoutConfig {
		var err error
		if cfg, err = s.Load(getenv); err != nil {
			return err
		}
	}
	return cmd.Run(ctx, cfg, args, stdout)
}

// command finds the subcommand called name.
func (s Service[C]) command(name string, getenv func(string) string) (Command[C], bool) {
	switch name {
	case "serve":
		return Command[C]{Run: func(ctx context.Context, cfg C, _ []string, stdout io.Writer) error {
			return s.Serve(ctx, cfg, getenv, stdout)
		}}, true
	case "healthcheck":
		return Command[C]{Run: func(ctx context.Context, cfg C, _ []string, _ io.Writer) error {
			return healthcheck.Check(ctx, healthcheck.LoopbackURL(cfg.Addr(), "/health"), healthcheckTimeout)
		}}, true
	case "version":
		return Command[C]{WithoutConfig: true, Run: func(_ context.Context, _ C, _ []string, stdout io.Writer) error {
			return Version(stdout, s.Name)
		}}, true
	}
	for _, c := range s.Commands {
		if c.Name == name {
			return c, true
		}
	}
	return Command[C]{}, false
}

// names lists the subcommands for an error: "serve, check, healthcheck or
// version".
func (s Service[C]) names() string {
	names := []string{"serve"}
	for _, c := range s.Commands {
		names = append(names, c.Name)
	}
	names = append(names, "healthcheck")
	return strings.Join(names, ", ") + " or version"
}
