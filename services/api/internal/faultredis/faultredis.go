// Package faultredis gives tests a real Redis they can cut off and restore.
//
// Tests talk to Redis through a small TCP proxy on 127.0.0.1. Stop makes the
// proxy drop every open connection and refuse new ones (each accepted
// connection is closed at once), which is what clients see when Redis goes
// away; Start lets traffic through again. Redis itself keeps running, so the
// same fixture works with any server named by TEST_REDIS_URL, shared by many
// packages at once. Each fixture has its own key prefix; Flush deletes only
// keys under it, which is how a test simulates a Redis restart that lost its
// data.
//
// With TEST_REDIS_URL unset the tests are skipped, except when CI=true, where
// they fail: CI must not pass by testing nothing.
package faultredis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is one test's view of a real Redis server behind a proxy it controls.
// Its methods are safe for concurrent use.
type Redis struct {
	// Prefix is unique to this fixture; tests put every key they own under
	// it so tests sharing a server never see each other's keys.
	Prefix string

	upstream string
	direct   *redis.Client
	ln       net.Listener

	mu      sync.Mutex
	stopped bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// New starts a proxy to the server named by TEST_REDIS_URL and registers its
// shutdown with t.Cleanup. It skips the test when no server is configured
// (fails under CI=true).
func New(t testing.TB) *Redis {
	t.Helper()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_REDIS_URL is not set; CI needs a Redis for these tests")
		}
		t.Skip("TEST_REDIS_URL is not set: skipping a test that needs a real Redis")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	direct := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := direct.Ping(ctx).Err(); err != nil {
		t.Fatalf("TEST_REDIS_URL %s: %v", opts.Addr, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	r := &Redis{
		Prefix:   "test:" + hex.EncodeToString(b) + ":",
		upstream: opts.Addr,
		direct:   direct,
		ln:       ln,
		conns:    map[net.Conn]struct{}{},
	}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		_ = r.Flush(context.Background())
		_ = ln.Close()
		r.Stop()
		r.wg.Wait()
		_ = direct.Close()
	})
	return r
}

// Addr is the proxy's address, host:port.
func (r *Redis) Addr() string { return r.ln.Addr().String() }

// Client returns a client connected through the proxy with the short
// timeouts a service should use, closed by t.Cleanup. The options db and
// credentials are those of TEST_REDIS_URL.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	o := *r.direct.Options()
	o.Addr = r.Addr()
	o.DialTimeout = time.Second
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	o.MaxRetries = -1
	c := redis.NewClient(&o)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Direct is a client that bypasses the proxy: a test's view of what Redis
// really holds, unaffected by Stop.
func (r *Redis) Direct() *redis.Client { return r.direct }

// Stop drops every proxied connection and refuses new ones until Start.
func (r *Redis) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for c := range r.conns {
		_ = c.Close()
	}
}

// Start lets connections through again.
func (r *Redis) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = false
}

// Flush deletes every key under Prefix, as a Redis restarted without its
// data would have none of them. It goes around the proxy.
func (r *Redis) Flush(ctx context.Context) error {
	iter := r.direct.Scan(ctx, 0, r.Prefix+"*", 500).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return nil
	}
	return r.direct.Del(ctx, keys...).Err()
}

func (r *Redis) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.DialTimeout("tcp", r.upstream, 2*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		if r.stopped {
			r.mu.Unlock()
			_ = c.Close()
			_ = up.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.conns[up] = struct{}{}
		r.wg.Add(2)
		r.mu.Unlock()
		go r.pipe(c, up)
		go r.pipe(up, c)
	}
}

// pipe copies src to dst; when either side ends, both are closed.
func (r *Redis) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	_ = dst.Close()
	_ = src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}
