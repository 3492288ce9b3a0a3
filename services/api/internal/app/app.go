// Package app is the api program: Run is what cmd/api runs and what tests
// start, with its subcommands:
//
//	api [serve]                    run the service (the default)
//	api migrate [up|down|status]   apply, roll back one, or list migrations,
//	                               under a PostgreSQL advisory lock; up then
//	                               grants the api's role (DB_API_USER)
//	api keys create NAME|list|revoke ID
//	                               manage the API keys stored in PostgreSQL
//	api import compose FILE        create or update an item per image of a compose file
//	api healthcheck                exit 0 when the running service answers GET /health
//	api version                    print the version and commit
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/docker-examples/stack/platform/command"
	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/migrate"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// migrateLockWait bounds how long `migrate` waits for another migrator.
const migrateLockWait = 5 * time.Minute

// Run is the whole program (a command.RunFunc); main only wires it to the
// process.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return program.Run(ctx, args, getenv, stdout)
}

var program = command.Service[config.Config]{
	Name:  "api",
	Load:  config.Load,
	Serve: runServe,
	Commands: []command.Command[config.Config]{
		{Name: "migrate", Run: runMigrate},
		{Name: "keys", Run: runKeys},
		{Name: "import", Run: runImport},
	},
}

func runMigrate(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	if sub != "up" && sub != "down" && sub != "status" {
		return fmt.Errorf("unknown migrate command %q: want up, down or status", sub)
	}
	r, err := openMigrator(ctx, cfg, logging.New(stdout, "api", cfg.LogLevel))
	if err != nil {
		return err
	}
	defer r.Close()
	switch sub {
	case "down":
		return r.Down(ctx)
	case "status":
		return r.Status(ctx, stdout)
	default:
		if err := r.Up(ctx); err != nil {
			return err
		}
		if cfg.APIRole.User == "" {
			return nil
		}
		return r.GrantAPIRole(ctx, migrate.APIRole{
			Name:                     cfg.APIRole.User,
			Password:                 cfg.APIRole.Password.Reveal(),
			StatementTimeout:         cfg.APIRole.StatementTimeout,
			IdleInTransactionTimeout: cfg.APIRole.IdleInTransactionTimeout,
		})
	}
}

// openMigrator waits for PostgreSQL (DB_CONNECT_TIMEOUT), then opens the
// migrations on it; the caller closes the Runner.
func openMigrator(ctx context.Context, cfg config.Config, log *slog.Logger) (*migrate.Runner, error) {
	if err := store.WaitForDatabase(ctx, cfg.DatabaseURL.Reveal(), cfg.DBConnectTimeout, log); err != nil {
		return nil, err
	}
	return migrate.Open(cfg.DatabaseURL.Reveal(), migrateLockWait, log)
}

// runKeys is `api keys create|list|revoke`, on the database of the config.
func runKeys(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	pool, err := store.NewPool(ctx, cfg.DatabaseURL.Reveal(), nil)
	if err != nil {
		return err
	}
	defer pool.Close()
	return keys.Run(ctx, args, keys.NewStore(store.New(pool)), stdout)
}
