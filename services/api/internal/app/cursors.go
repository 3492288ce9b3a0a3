package app

import (
	"context"
	"sync/atomic"

	"github.com/docker-examples/stack/services/api/internal/config"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// cursorKeyName is the row of api_secrets that holds the cursor key.
const cursorKeyName = "cursor_key"

// cursorSigner is httpapi.Deps.Cursors: the signer of list cursors, with
// CURSOR_KEY when it is set, else with the key every replica shares in
// PostgreSQL, made by the first replica that needs it. That key is read
// on first use, not at start-up (serve does not wait for the database),
// then kept; while it cannot be read, lists answer as the database error
// maps (503). Concurrent first reads are harmless: they read one row.
//
// A per-process random key would refuse every cursor another replica
// signed (a load balancer alternates replicas between pages), and a key
// in Redis would be lost with a flush or a restart of Redis; PostgreSQL
// is already the one shared, durable store every replica has.
func cursorSigner(cfg config.Config, st *store.Store) (func(context.Context) (*inventory.Cursors, error), error) {
	if !cfg.CursorKey.IsZero() {
		c, err := inventory.NewCursors([]byte(cfg.CursorKey.Reveal()))
		if err != nil {
			return nil, err
		}
		return func(context.Context) (*inventory.Cursors, error) { return c, nil }, nil
	}
	var loaded atomic.Pointer[inventory.Cursors]
	return func(ctx context.Context) (*inventory.Cursors, error) {
		if c := loaded.Load(); c != nil {
			return c, nil
		}
		key, err := st.SharedSecret(ctx, cursorKeyName, inventory.MinCursorKeyLen)
		if err != nil {
			return nil, err
		}
		c, err := inventory.NewCursors(key)
		if err != nil {
			return nil, err
		}
		loaded.Store(c)
		return c, nil
	}, nil
}
