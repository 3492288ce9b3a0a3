// Package redistest gives integration tests a real Redis logical database of
// their own, flushed before use and released when the test ends.
//
// The server is found once per test binary:
//
//   - TEST_REDIS_URL names a running server, e.g. redis://127.0.0.1:56379;
//   - else testcontainers-go starts the image platform/testimage finds
//     (REDIS_IMAGE, the one deploy/images.env names, or the official
//     image); Stop removes the container;
//   - else the test is skipped with a message saying to run `make images`,
//     except under CI=true, where it fails.
//
// Each test reserves one of the logical databases 1-15 with a lease key in
// database 0 (SET NX with expiry), so test binaries of several packages can
// share one server. Keys and streams are per database; Pub/Sub channels are
// not, so tests that publish should put t.Name() in their channel names.
// Use it from TestMain so the container is removed at the end:
//
//	func TestMain(m *testing.M) {
//		code := m.Run()
//		redistest.Stop()
//		os.Exit(code)
//	}
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/testimage"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
)

// leaseTTL bounds how long a crashed test binary keeps a database reserved.
const leaseTTL = 10 * time.Minute

var (
	once     sync.Once
	setupErr error
	skipMsg  string
	base     *redis.Options
	ctr      testcontainers.Container
)

// URL reserves a flushed logical database for t and returns its URL
// (redis://host:port/N). The database is flushed and released when t ends.
func URL(t testing.TB) string {
	t.Helper()
	opts := reserve(t)
	u := "redis://"
	if opts.Password != "" {
		u += ":" + opts.Password + "@"
	}
	return u + opts.Addr + "/" + strconv.Itoa(opts.DB)
}

// New reserves a flushed logical database for t and returns a client on it,
// closed when t ends.
func New(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(reserve(t))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop removes the container, if this binary started one. Call it from
// TestMain after m.Run.
func Stop() {
	if ctr != nil {
		_ = testcontainers.TerminateContainer(ctr)
	}
}

func reserve(t testing.TB) *redis.Options {
	t.Helper()
	once.Do(func() { setupErr = start() })
	switch {
	case skipMsg != "" && os.Getenv("CI") == "true":
		t.Fatalf("redistest: %s (CI=true: integration tests must run)", skipMsg)
	case skipMsg != "":
		t.Skipf("redistest: %s", skipMsg)
	case setupErr != nil:
		t.Fatalf("redistest: %v", setupErr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o0 := *base
	o0.DB = 0
	leases := redis.NewClient(&o0)
	token := randomHex(8)
	db := 0
	for db == 0 {
		for n := 1; n <= 15; n++ {
			ok, err := leases.SetNX(ctx, leaseKey(n), token, leaseTTL).Result()
			if err != nil {
				_ = leases.Close()
				t.Fatalf("redistest: reserve a database: %v", err)
			}
			if ok {
				db = n
				break
			}
		}
		if db == 0 {
			select {
			case <-ctx.Done():
				_ = leases.Close()
				t.Fatal("redistest: all 15 logical databases stayed reserved for a minute")
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	o := *base
	o.DB = db
	c := redis.NewClient(&o)
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		_ = leases.Close()
		t.Fatalf("redistest: flush database %d: %v", db, err)
	}
	t.Cleanup(func() {
		defer leases.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := redis.NewClient(&o)
		defer c.Close()
		_ = c.FlushDB(ctx).Err()
		// Release only our own lease.
		if v, _ := leases.Get(ctx, leaseKey(db)).Result(); v == token {
			_ = leases.Del(ctx, leaseKey(db)).Err()
		}
	})
	return &o
}

func leaseKey(n int) string { return "redistest:lease:" + strconv.Itoa(n) }

func start() error {
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		img, why := testimage.Find(ctx, testimage.Redis)
		if img == "" {
			skipMsg = why
			return nil
		}
		c, err := tcredis.Run(ctx, img,
			testcontainers.WithLabels(map[string]string{"docker-examples.helper": "api-redistest"}))
		if c != nil {
			ctr = c
		}
		if err != nil {
			return fmt.Errorf("start %s: %w", img, err)
		}
		if raw, err = c.ConnectionString(ctx); err != nil {
			return err
		}
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return fmt.Errorf("TEST_REDIS_URL: %w", err)
	}
	base = o
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := redis.NewClient(o)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping %s: %w", o.Addr, err)
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
