package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func getenvOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(getenvOf(map[string]string{"INSTANCE_ID": "api-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.DatabaseURL.Reveal(), "postgres://inventory@postgres:5432/inventory?sslmode=disable"; got != want {
		t.Errorf("DatabaseURL = %q, want %q", got, want)
	}
	if got, want := c.RedisURL.Reveal(), "redis://redis:6379/0"; got != want {
		t.Errorf("RedisURL = %q, want %q", got, want)
	}
	// The cache shares REDIS_URL's Redis; cursors are signed with the
	// key kept in PostgreSQL.
	if c.EventStreamMaxBytes != 16<<20 {
		t.Errorf("EventStreamMaxBytes = %d, want 16 MiB", c.EventStreamMaxBytes)
	}
	if !c.RedisCacheURL.IsZero() || !c.CursorKey.IsZero() {
		t.Errorf("RedisCacheURL, CursorKey = %q, %q, want both unset", c.RedisCacheURL.Reveal(), c.CursorKey.Reveal())
	}
	if c.Port != 8000 || c.ShutdownDrain != 5*time.Second || c.AdminUsername != "admin" || c.AutoMigrate {
		t.Errorf("defaults = %+v", c)
	}
	// Anonymous callers get 600/m per IP; keys and sessions ten times
	// that; logins 10/m; Redis down lets requests through.
	if c.RateLimit.Rate != 600 || c.RateLimitKey.Rate != 6000 || c.RateLimitLogin.Rate != 10 ||
		c.RateLimit.Period != time.Minute || c.RateLimitFailClosed {
		t.Errorf("rate limit defaults = %+v %+v %+v fail closed %v", c.RateLimit, c.RateLimitKey, c.RateLimitLogin, c.RateLimitFailClosed)
	}
	if c.SessionIdleTimeout != 30*time.Minute || c.SessionAbsoluteTimeout != 12*time.Hour {
		t.Errorf("session timeouts = %v %v", c.SessionIdleTimeout, c.SessionAbsoluteTimeout)
	}
}

func TestRateLimitsCanBeTurnedOff(t *testing.T) {
	c, err := Load(getenvOf(map[string]string{"RATE_LIMIT": "off", "RATE_LIMIT_KEY": "20/s", "RATE_LIMIT_LOGIN": "OFF"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.RateLimit.Rate != 0 || c.RateLimitLogin.Rate != 0 || c.RateLimitKey.Rate != 20 || c.RateLimitKey.Period != time.Second {
		t.Errorf("limits = %+v %+v %+v", c.RateLimit, c.RateLimitKey, c.RateLimitLogin)
	}
}

func TestDatabaseURLFromParts(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("s3cr/t@x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(getenvOf(map[string]string{
		"DB_HOST": "db", "DB_PORT": "6543", "DB_NAME": "inv", "DB_USER": "u",
		"DB_PASSWORD_FILE": pwFile, "DB_SSLMODE": "require",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.DatabaseURL.Reveal(), "postgres://u:s3cr%2Ft%40x@db:6543/inv?sslmode=require"; got != want {
		t.Errorf("DatabaseURL = %q, want %q", got, want)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "s3cr") {
		t.Errorf("printing the config leaks the password: %s", s)
	}
}

func TestListsAreParsed(t *testing.T) {
	c, err := Load(getenvOf(map[string]string{
		"CORS_ORIGINS":    "https://Inventory.example.com, http://localhost:3000",
		"TRUSTED_PROXIES": "10.0.0.0/8, 172.18.0.5",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"https://inventory.example.com", "http://localhost:3000"}, c.CORSOrigins); d != "" {
		t.Errorf("CORSOrigins (-want +got):\n%s", d)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.18.0.5/32")}
	if d := cmp.Diff(want, c.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
		t.Errorf("TrustedProxies (-want +got):\n%s", d)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"PORT": "eighty"}, "PORT"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"DB_PORT": "0"}, "DB_PORT"},
		{map[string]string{"DB_SSLMODE": "maybe"}, "DB_SSLMODE"},
		{map[string]string{"DB_PASSWORD": "a", "DB_PASSWORD_FILE": "/x"}, "DB_PASSWORD"},
		{map[string]string{"DATABASE_URL": "postgres://h/db", "DB_HOST": "h"}, "DATABASE_URL"},
		{map[string]string{"DATABASE_URL": "mysql://h/db"}, "DATABASE_URL"},
		{map[string]string{"REDIS_URL": "http://redis"}, "REDIS_URL"},
		{map[string]string{"REDIS_CACHE_URL": "redis-cache:6379"}, "REDIS_CACHE_URL"},
		{map[string]string{"CURSOR_KEY": "short"}, "CURSOR_KEY"},
		{map[string]string{"EVENT_STREAM_MAX_BYTES": "1000"}, "EVENT_STREAM_MAX_BYTES"},
		{map[string]string{"CURSOR_KEY": "0123456789abcdef0123456789abcdef", "CURSOR_KEY_FILE": "/x"}, "CURSOR_KEY"},
		{map[string]string{"CORS_ORIGINS": "*"}, "CORS_ORIGINS"},
		{map[string]string{"CORS_ORIGINS": "https://a.example/path"}, "CORS_ORIGINS"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, "TRUSTED_PROXIES"},
		{map[string]string{"AUTO_MIGRATE": "sometimes"}, "AUTO_MIGRATE"},
		{map[string]string{"SHUTDOWN_DRAIN": "-1s"}, "SHUTDOWN_DRAIN"},
		{map[string]string{"DEBUG_ADDR": "0.0.0.0:6060"}, "DEBUG_ADDR"},
		{map[string]string{"DEBUG_ADDR": "6060"}, "DEBUG_ADDR"},
		{map[string]string{"DB_CONNECT_TIMEOUT": "forever"}, "DB_CONNECT_TIMEOUT"},
		{map[string]string{"DB_API_USER": "inventory_api"}, "DB_API_USER"},
		{map[string]string{"DB_API_PASSWORD": "pw"}, "DB_API_PASSWORD"},
		{map[string]string{"DB_USER": "inventory", "DB_API_USER": "inventory", "DB_API_PASSWORD": "pw"}, "DB_API_USER"},
		{map[string]string{"DB_API_STATEMENT_TIMEOUT": "-1s"}, "DB_API_STATEMENT_TIMEOUT"},
		{map[string]string{"DB_API_IDLE_IN_TRANSACTION_TIMEOUT": "soon"}, "DB_API_IDLE_IN_TRANSACTION_TIMEOUT"},
		{map[string]string{"ADMIN_PASSWORD_FILE": "/does/not/exist"}, "ADMIN_PASSWORD_FILE"},
		{map[string]string{"RATE_LIMIT": "lots"}, "RATE_LIMIT"},
		{map[string]string{"RATE_LIMIT_KEY": "10/fortnight"}, "RATE_LIMIT_KEY"},
		{map[string]string{"RATE_LIMIT_LOGIN": "0/m"}, "RATE_LIMIT_LOGIN"},
		{map[string]string{"RATE_LIMIT_FAIL_CLOSED": "perhaps"}, "RATE_LIMIT_FAIL_CLOSED"},
		{map[string]string{"READS_REQUIRE_AUTH": "members"}, "READS_REQUIRE_AUTH"},
		{map[string]string{"SESSION_IDLE_TIMEOUT": "5s"}, "SESSION_IDLE_TIMEOUT"},
		{map[string]string{"SESSION_ABSOLUTE_TIMEOUT": "never"}, "SESSION_ABSOLUTE_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(getenvOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.name) {
				t.Fatalf("Load(%v) = %v, want an error naming %s", tt.env, err, tt.name)
			}
		})
	}
}

// One start-up names every bad variable (the database URL's parts stopped
// at the first before the shared loader).
func TestEveryBadVariableAtOnce(t *testing.T) {
	_, err := Load(getenvOf(map[string]string{
		"PORT": "eighty", "DB_PORT": "x", "DB_SSLMODE": "sometimes", "REDIS_URL": "http://redis",
		"RATE_LIMIT": "lots", "TRUSTED_PROXIES": "10.0.0.0/33",
	}))
	if err == nil {
		t.Fatal("Load = nil, want errors")
	}
	for _, name := range []string{"PORT", "DB_PORT", "DB_SSLMODE", "REDIS_URL", "RATE_LIMIT", "TRUSTED_PROXIES"} {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("the error does not name %s:\n%v", name, err)
		}
	}
}

func TestRedisURLFromFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "redis_url")
	if err := os.WriteFile(f, []byte("redis://api:pa55@redis:6379/0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(getenvOf(map[string]string{"REDIS_URL_FILE": f}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.RedisURL.Reveal(), "redis://api:pa55@redis:6379/0"; got != want {
		t.Errorf("RedisURL = %q, want %q", got, want)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, "pa55") {
		t.Errorf("config prints the Redis password: %s", s)
	}

	_, err = Load(getenvOf(map[string]string{"REDIS_URL_FILE": f, "REDIS_URL": "redis://redis:6379/0"}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL and REDIS_URL_FILE are both set") {
		t.Errorf("both forms: err = %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("http://api:pa55@redis\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(getenvOf(map[string]string{"REDIS_URL_FILE": bad}))
	if err == nil || !strings.Contains(err.Error(), "REDIS_URL:") || strings.Contains(err.Error(), "pa55") {
		t.Errorf("bad URL in file: err = %v, want a REDIS_URL error without the password", err)
	}
}
