package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// WaitForDatabase connects to url until PostgreSQL answers or timeout
// passes, backing off from 250ms to 5s between attempts. Compose starts
// the API alongside PostgreSQL, not after it, so every command that needs
// the database calls this first. It logs each failed attempt at info (the
// error never contains the password: pgx redacts it).
func WaitForDatabase(ctx context.Context, url string, timeout time.Duration, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := ping(ctx, url)
		if err == nil {
			if attempt > 1 {
				log.InfoContext(ctx, "database is up", "attempts", attempt)
			}
			return nil
		}
		log.InfoContext(ctx, "waiting for the database", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: database not reachable within %s: %w", timeout, errors.Join(ErrUnavailable, err))
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func ping(ctx context.Context, url string) error {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return errors.New("the database URL cannot be parsed")
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(actx, cfg)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
