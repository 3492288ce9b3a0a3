// Package replicas tells which API instances are alive, for GET
// /api/status.
//
// Every instance refreshes a heartbeat key in Redis (its description,
// expiring after TTL) every Interval and lists itself in an index set. An
// instance that stops gracefully deletes its key at once; one that dies
// disappears when its key expires. Listing reads the index and the keys
// together and prunes index entries whose key has expired. Liveness
// depends only on Redis's clock (key expiry), never on the instances'
// clocks agreeing; LastSeen is informative.
package replicas

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replica describes one live instance.
type Replica struct {
	InstanceID string    `json:"instance_id"`
	Version    string    `json:"version"`
	StartedAt  time.Time `json:"started_at"`
	LastSeen   time.Time `json:"last_seen"`
}

// Options tune a Registry. The zero value is usable.
type Options struct {
	// Interval between heartbeats, default 5s.
	Interval time.Duration
	// TTL of a heartbeat, default three intervals: an instance is
	// declared gone after missing about three beats.
	TTL time.Duration
	// Prefix starts every Redis key, default "replicas:".
	Prefix string
	// Log receives outages. Default: discarded.
	Log *slog.Logger
	// Now is the clock for LastSeen, default time.Now.
	Now func() time.Time
}

// Registry publishes this instance's heartbeat and lists live ones. It is
// safe for concurrent use.
type Registry struct {
	rdb  redis.UniversalClient
	self Replica
	opts Options
}

// New returns a Registry for self (InstanceID, Version and StartedAt are
// used; LastSeen is set at each beat).
func New(rdb redis.UniversalClient, self Replica, opts Options) *Registry {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.TTL <= 0 {
		opts.TTL = 3 * opts.Interval
	}
	if opts.Prefix == "" {
		opts.Prefix = "replicas:"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Registry{rdb: rdb, self: self, opts: opts}
}

func (r *Registry) index() string        { return r.opts.Prefix + "index" }
func (r *Registry) key(id string) string { return r.opts.Prefix + "instance:" + id }

// Beat publishes one heartbeat.
func (r *Registry) Beat(ctx context.Context) error {
	me := r.self
	me.LastSeen = r.opts.Now().UTC()
	b, err := json.Marshal(me)
	if err != nil {
		return err
	}
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, r.key(me.InstanceID), b, r.opts.TTL)
		p.SAdd(ctx, r.index(), me.InstanceID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("replicas: heartbeat: %w", err)
	}
	return nil
}

// Run beats every Interval until ctx ends, then removes this instance's
// entry so the others stop listing it at once. Failures are logged once
// per outage. It returns nil.
func (r *Registry) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	down := false
	for {
		err := r.Beat(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !down:
			r.opts.Log.Warn("replica heartbeat failed; retrying", slog.Any("error", err))
			down = true
		case err == nil && down:
			r.opts.Log.Info("replica heartbeat restored")
			down = false
		}
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_, _ = r.rdb.TxPipelined(dctx, func(p redis.Pipeliner) error {
				p.Del(dctx, r.key(r.self.InstanceID))
				p.SRem(dctx, r.index(), r.self.InstanceID)
				return nil
			})
			return nil
		case <-t.C:
		}
	}
}

// pruneScript removes ids from the index whose heartbeat key is gone,
// checking atomically so an instance that just beat again stays listed.
var pruneScript = redis.NewScript(`
for i = 2, #ARGV do
  if redis.call('EXISTS', ARGV[1] .. ARGV[i]) == 0 then
    redis.call('SREM', KEYS[1], ARGV[i])
  end
end
return 0
`)

// List returns the live instances ordered by instance id.
func (r *Registry) List(ctx context.Context) ([]Replica, error) {
	ids, err := r.rdb.SMembers(ctx, r.index()).Result()
	if err != nil {
		return nil, fmt.Errorf("replicas: list: %w", err)
	}
	if len(ids) == 0 {
		return []Replica{}, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = r.key(id)
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("replicas: list: %w", err)
	}
	out := make([]Replica, 0, len(ids))
	var gone []any
	for i, v := range vals {
		s, ok := v.(string)
		var rep Replica
		if !ok || json.Unmarshal([]byte(s), &rep) != nil {
			gone = append(gone, ids[i])
			continue
		}
		out = append(out, rep)
	}
	if len(gone) > 0 {
		_ = pruneScript.Run(ctx, r.rdb, []string{r.index()}, append([]any{r.opts.Prefix + "instance:"}, gone...)...).Err()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceID < out[j].InstanceID })
	return out, nil
}
