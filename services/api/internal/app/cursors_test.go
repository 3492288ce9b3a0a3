package app

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

type listPage struct {
	Items      []item `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func redisAt(t *testing.T, u string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func countKeys(t *testing.T, c *redis.Client, pattern string) int {
	t.Helper()
	keys, err := c.Keys(context.Background(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}

// Two replicas without CURSOR_KEY sign with the one key they share in
// PostgreSQL: a list begun on one continues on the other. A cursor the api
// did not sign for that list is a 400 problem and stores nothing in the
// cache. With REDIS_CACHE_URL the cache's entries live there and the Redis
// of sessions, limits and events holds none.
func TestSignedCursorsAcrossReplicasAndACacheOfItsOwn(t *testing.T) {
	db, rds, cacheURL := pgtest.URL(t), redistest.URL(t), redistest.URL(t)
	extra := map[string]string{"REDIS_CACHE_URL": cacheURL, "RATE_LIMIT": "off", "RATE_LIMIT_KEY": "off"}
	a := instance(t, "api-a", db, rds, extra)
	b := instance(t, "api-b", db, rds, extra)
	var ids []string
	for i := range 3 {
		ids = append(ids, createItem(t, a, fmt.Sprintf("paged-%d", i)).ID)
	}

	var first, second listPage
	do(t, call{method: "GET", url: a + "/api/inventory?limit=2"}).decode(t, &first)
	if len(first.Items) != 2 || first.NextCursor == "" {
		t.Fatalf("first page = %+v, want 2 items and a cursor", first)
	}
	r := do(t, call{method: "GET", url: b + "/api/inventory?limit=2&cursor=" + url.QueryEscape(first.NextCursor)})
	if r.status != http.StatusOK {
		t.Fatalf("replica B on A's cursor = %d %s, want 200", r.status, r.body)
	}
	r.decode(t, &second)
	if len(second.Items) != 1 || second.Items[0].Name != "paged-0" || second.NextCursor != "" {
		t.Errorf("second page from B = %+v, want paged-0 alone", second)
	}

	cache, security := redisAt(t, cacheURL), redisAt(t, rds)
	if n := countKeys(t, cache, "cache:items:*:page:*"); n == 0 {
		t.Errorf("the cache Redis holds no page after two lists")
	}
	if n := countKeys(t, security, "cache:*"); n != 0 {
		t.Errorf("REDIS_URL's Redis holds %d cache keys, want none", n)
	}

	before := countKeys(t, cache, "*")
	last, _ := uuid.Parse(ids[1])
	raw, _ := base64.RawURLEncoding.DecodeString(first.NextCursor)
	raw[3] ^= 1
	for name, cursor := range map[string]string{
		"unsigned, as before":   base64.RawURLEncoding.EncodeToString(append([]byte{1}, last[:]...)),
		"tampered id":           base64.RawURLEncoding.EncodeToString(raw),
		"signed by another key": "AgGToOR8Pn0qmksfLj1MW2oAAAAAAAAAAAAAAAAAAAAA",
		"made up":               "forged",
	} {
		r := do(t, call{method: "GET", url: b + "/api/inventory?limit=2&cursor=" + url.QueryEscape(cursor)})
		if r.status != http.StatusBadRequest || r.problemType() != "bad-cursor" ||
			r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s %s, want a 400 bad-cursor problem", name, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	// A real cursor on another list (other filters) is foreign there too.
	r = do(t, call{method: "GET", url: a + "/api/inventory?limit=2&q=paged&cursor=" + url.QueryEscape(first.NextCursor)})
	if r.status != http.StatusBadRequest || r.problemType() != "bad-cursor" {
		t.Errorf("cursor moved to q=paged: %d %s, want 400 bad-cursor", r.status, r.body)
	}
	if after := countKeys(t, cache, "*"); after != before {
		t.Errorf("refused cursors changed the cache from %d to %d keys", before, after)
	}
}
