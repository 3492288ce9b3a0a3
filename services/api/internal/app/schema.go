package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// schemaCheck is the readiness dependency "schema": the database's schema
// is at least the newest migration this binary embeds. Where a separate
// migrate job applies the schema (a swarm service that runs beside the
// api, not before it), an api task may start first: it stays unready (no
// traffic from the lb) until the job has run, instead of answering 500 for
// a missing table. Once the schema has been seen current it is not read
// again: schemas only move forward while replicas serve.
type schemaCheck struct {
	version func(context.Context) (int64, error)
	want    int64
	log     *slog.Logger

	current atomic.Bool
	mu      sync.Mutex
	logged  int64 // the version last logged as behind, -1 for none
}

func newSchemaCheck(version func(context.Context) (int64, error), want int64, log *slog.Logger) *schemaCheck {
	return &schemaCheck{version: version, want: want, log: log, logged: -1}
}

// Ping returns nil once the schema is current. It is safe for concurrent
// use.
func (s *schemaCheck) Ping(ctx context.Context) error {
	if s.current.Load() {
		return nil
	}
	got, err := s.version(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got >= s.want {
		if !s.current.Swap(true) {
			s.log.InfoContext(ctx, "schema is current", "version", got, "want", s.want)
		}
		return nil
	}
	if s.logged != got {
		s.logged = got
		s.log.WarnContext(ctx, "waiting for migrate up: the schema is older than this api, /ready answers 503",
			"version", got, "want", s.want)
	}
	return fmt.Errorf("schema at version %d, this api needs %d", got, s.want)
}
