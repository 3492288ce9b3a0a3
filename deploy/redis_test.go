package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/docker-examples/stack/platform/testimage"
	"github.com/docker-examples/stack/services/api/apitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	apitest.Stop()
	os.Exit(code)
}

// redisServer is one of the stack's Redis instances, started from the
// base image `make images` builds with this directory's configuration
// files and the ACL file scripts/secrets.sh writes, as the compose files
// mount them.
type redisServer struct {
	host string // host:port on this machine
	// probe is a client as an operator with every right, to read INFO.
	probe *redis.Client
}

// startRedis runs redis-server with conf (redis.conf or cache.conf) and
// the extra command-line arguments, which override the file's.
func startRedis(t *testing.T, secrets, conf string, args ...string) redisServer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	img, why := testimage.Find(ctx, testimage.Redis)
	if img == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	// The stack's users plus an operator for the test's own INFO calls.
	acl, err := os.ReadFile(filepath.Join(secrets, "redis_users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	aclFile := filepath.Join(t.TempDir(), "redis_users")
	if err := os.WriteFile(aclFile, append(acl, "user probe on >probe ~* &* +@all\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		Started: true,
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        img,
			User:         "1001:1001",
			Cmd:          append([]string{"redis-server", "/usr/local/etc/redis/" + conf}, args...),
			ExposedPorts: []string{"6379/tcp"},
			Files: []testcontainers.ContainerFile{
				{HostFilePath: "redis/redis.conf", ContainerFilePath: "/usr/local/etc/redis/redis.conf", FileMode: 0o644},
				{HostFilePath: "redis/cache.conf", ContainerFilePath: "/usr/local/etc/redis/cache.conf", FileMode: 0o644},
				{HostFilePath: aclFile, ContainerFilePath: "/run/secrets/redis_users", FileMode: 0o644},
			},
			Labels:     map[string]string{"docker-examples.helper": "deploy-redis-test"},
			WaitingFor: wait.ForLog("Ready to accept connections").WithStartupTimeout(time.Minute),
		},
	})
	if c != nil {
		t.Cleanup(func() { _ = testcontainers.TerminateContainer(c) })
	}
	if err != nil {
		t.Fatalf("start %s with %s: %v", img, conf, err)
	}
	ep, err := c.PortEndpoint(ctx, "6379/tcp", "")
	if err != nil {
		t.Fatal(err)
	}
	probe := redis.NewClient(&redis.Options{Addr: ep, Username: "probe", Password: "probe"})
	t.Cleanup(func() { _ = probe.Close() })
	return redisServer{host: ep, probe: probe}
}

// info is one field of INFO's section.
func (r redisServer) info(t *testing.T, section, field string) string {
	t.Helper()
	s, err := r.probe.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("INFO %s: %v", section, err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

func (r redisServer) evicted(t *testing.T) int {
	t.Helper()
	n, err := strconv.Atoi(r.info(t, "stats", "evicted_keys"))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Pages of the list that anonymous clients choose (here by limit) fill the
// cache's Redis until it evicts; the admin's session, in the other Redis,
// stays signed in. Both instances run the stack's configuration and ACL
// users, so this is also the api working as the ACL's api user.
func TestFillingTheCacheCannotEvictASession(t *testing.T) {
	secrets := t.TempDir()
	gen := exec.Command("bash", "../scripts/secrets.sh")
	gen.Env = append(os.Environ(), "SECRETS_DIR="+secrets)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("scripts/secrets.sh: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(secrets, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	redisPW := read("redis_password.txt")

	main := startRedis(t, secrets, "redis.conf")
	// The cache's configuration with a budget small enough to fill here.
	cacheSrv := startRedis(t, secrets, "cache.conf", "--maxmemory", "4mb")
	if got := cacheSrv.info(t, "memory", "maxmemory_policy"); got != "allkeys-lru" {
		t.Fatalf("cache.conf: maxmemory_policy = %s, want allkeys-lru", got)
	}
	if got := main.info(t, "memory", "maxmemory_policy"); got != "noeviction" {
		t.Fatalf("redis.conf: maxmemory_policy = %s, want noeviction", got)
	}

	const adminPW = "correct horse battery staple"
	keys := filepath.Join(t.TempDir(), "api_keys")
	if err := os.WriteFile(keys, []byte(read("api_key.txt")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	api := apitest.Start(t, adminPW, map[string]string{
		"REDIS_URL":       "redis://api:" + url.QueryEscape(redisPW) + "@" + main.host + "/0",
		"REDIS_CACHE_URL": "redis://api:" + url.QueryEscape(redisPW) + "@" + cacheSrv.host + "/0",
		"API_KEYS_FILE":   keys,
		"RATE_LIMIT":      "off",
		"RATE_LIMIT_KEY":  "off",
	})

	// call sends a request to the api and returns its status, body and
	// cookies; the session cookie goes in the header as it is (it may be
	// Secure, which a cookie jar would not send over plain HTTP).
	call := func(method, path string, body any, hdr http.Header) (int, []byte, []*http.Cookie) {
		t.Helper()
		var rd io.Reader = http.NoBody
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, api+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = v
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, b, resp.Cookies()
	}

	// The admin signs in: the session lives in the main Redis.
	code, body, cookies := call("POST", "/api/auth/login", map[string]string{"username": apitest.AdminUser, "password": adminPW}, nil)
	if code != http.StatusOK || len(cookies) != 1 {
		t.Fatalf("login = %d %s with %d cookies, want 200 and one", code, body, len(cookies))
	}
	session := http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}
	signedIn := func() bool {
		t.Helper()
		code, body, _ := call("GET", "/api/auth/session", nil, session)
		var s struct {
			Authenticated bool   `json:"authenticated"`
			Username      string `json:"username"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &s) != nil {
			t.Fatalf("GET /api/auth/session = %d %s", code, body)
		}
		return s.Authenticated && s.Username == apitest.AdminUser
	}
	if !signedIn() {
		t.Fatal("not signed in right after the login")
	}

	// 100 items of 2000 characters each, so that list pages are large.
	key := http.Header{"X-API-Key": {read("api_key.txt")}}
	for i := range 100 {
		it := map[string]any{
			"name":        fmt.Sprintf("filler-%03d", i),
			"image":       fmt.Sprintf("example/filler-%03d:1.0", i),
			"description": strings.Repeat(string(rune('a'+i%26)), 2000),
		}
		if code, body, _ := call("POST", "/api/inventory", it, key); code != http.StatusCreated {
			t.Fatalf("create item %d = %d %s", i, code, body)
		}
	}
	// Anonymous clients ask for pages nobody asked for before (every limit,
	// with and without a search): about 20 MB of pages into a 4 MB cache.
	before := cacheSrv.evicted(t)
	for _, search := range []string{"", "&q=filler"} {
		for limit := 1; limit <= 100; limit++ {
			if code, body, _ := call("GET", fmt.Sprintf("/api/inventory?limit=%d%s", limit, search), nil, nil); code != http.StatusOK {
				t.Fatalf("list limit=%d = %d %s", limit, code, body)
			}
		}
	}
	after := cacheSrv.evicted(t)
	t.Logf("the cache's Redis evicted %d keys while filled", after-before)
	if after <= before {
		t.Fatal("the cache's Redis evicted nothing: the pages did not reach it (is REDIS_CACHE_URL used?)")
	}
	if !signedIn() {
		t.Error("the admin was signed out by pages anonymous clients cached")
	}
	if n := main.evicted(t); n != 0 {
		t.Errorf("the main Redis evicted %d keys; it holds sessions and limits and must never evict", n)
	}
}
