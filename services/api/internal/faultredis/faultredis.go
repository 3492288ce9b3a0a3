// Package faultredis gives tests a real Redis they can cut off and restore.
//
// Tests talk to Redis through a small TCP proxy on 127.0.0.1. Stop makes the
// proxy drop every open connection and refuse new ones (each accepted
// connection is closed at once), which is what clients see when Redis goes
// away; Start lets traffic through again. Redis itself keeps running, so the
// fixture works with whatever server package redistest finds (TEST_REDIS_URL
// or a REDIS_IMAGE container, else a skip, or a failure under CI=true), and
// each fixture has a logical database of its own from redistest. Flush
// empties it, which is how a test simulates a Redis restart that lost its
// data.
package faultredis

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// Redis is one test's view of a real Redis server behind a proxy it controls.
// Its methods are safe for concurrent use.
type Redis struct {
	url      string
	upstream string
	direct   *redis.Client
	ln       net.Listener

	mu      sync.Mutex
	stopped bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// New reserves a database with redistest, starts a proxy to it, and
// registers their shutdown with t.Cleanup.
func New(t testing.TB) *Redis {
	t.Helper()
	raw := redistest.URL(t)
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("faultredis: %v", err)
	}
	direct := redis.NewClient(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultredis: proxy listen: %v", err)
	}
	r := &Redis{
		url:      raw,
		upstream: opts.Addr,
		direct:   direct,
		ln:       ln,
		conns:    map[net.Conn]struct{}{},
	}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		r.Stop()
		r.wg.Wait()
		_ = direct.Close()
	})
	return r
}

// Addr is the proxy's address, host:port.
func (r *Redis) Addr() string { return r.ln.Addr().String() }

// URL is a redis:// URL of the fixture's database through the proxy, for
// code under test that takes REDIS_URL.
func (r *Redis) URL() string {
	u, err := url.Parse(r.url)
	if err != nil { // redistest made it; it parses
		panic(err)
	}
	u.Host = r.Addr()
	return u.String()
}

// Client returns a client connected through the proxy with the short
// timeouts a service should use, closed by t.Cleanup.
func (r *Redis) Client(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(r.url) // fresh options: a client's must not be shared
	if err != nil {
		t.Fatal(err)
	}
	o.Addr = r.Addr()
	o.DialTimeout = time.Second
	o.ReadTimeout = time.Second
	o.WriteTimeout = time.Second
	o.MaxRetries = -1
	c := redis.NewClient(o)
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

// Flush empties the fixture's database, as a Redis restarted without its
// data would be. It goes around the proxy.
func (r *Redis) Flush(ctx context.Context) error {
	return r.direct.FlushDB(ctx).Err()
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
