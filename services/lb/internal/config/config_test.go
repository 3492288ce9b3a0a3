package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func getenvOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func noFile(string) ([]byte, error) { return nil, errors.New("no file") }

func TestDefaults(t *testing.T) {
	c, err := load(getenvOf(map[string]string{"INSTANCE_NAME": "lb-1"}), noFile)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 80 || c.HTTPSPort != 443 || c.AdminPort != 9090 || !c.AccessLog || c.InstanceName != "lb-1" {
		t.Errorf("listeners/logging defaults wrong: %+v", c)
	}
	want := []Pool{
		{Name: "api", Upstreams: []Upstream{{"api", 8000}}, Policy: Policy{Kind: RoundRobin}, HealthPath: "/health"},
		{Name: "frontend", Upstreams: []Upstream{{"frontend", 3000}}, Policy: Policy{Kind: RoundRobin}, HealthPath: "/health"},
	}
	if diff := cmp.Diff(want, c.Pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(DefaultRoutes(), c.Routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	if c.Discovery.Interval != time.Second || c.Retry.Attempts != 2 || c.Health.Rise != 2 {
		t.Errorf("tuning defaults wrong: %+v %+v %+v", c.Discovery, c.Retry, c.Health)
	}
}

func TestEnvironment(t *testing.T) {
	c, err := load(getenvOf(map[string]string{
		"API_UPSTREAM": "api:8000, api-canary:8001", "API_POLICY": "least_requests",
		"FRONTEND_POLICY": "cookie:sticky", "FRONTEND_HEALTH_PATH": "/ready",
		"TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1", "UPSTREAM_CIDRS": "172.16.0.0/12",
		"HEALTH_INTERVAL": "500ms", "INSTANCE_NAME": "lb-1",
	}), noFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Upstream{{"api", 8000}, {"api-canary", 8001}}, c.Pools[0].Upstreams); diff != "" {
		t.Errorf("api upstreams (-want +got):\n%s", diff)
	}
	if c.Pools[0].Policy.Kind != LeastRequests || c.Pools[1].Policy != (Policy{Kind: Cookie, Arg: "sticky"}) || c.Pools[1].HealthPath != "/ready" {
		t.Errorf("pools = %+v", c.Pools)
	}
	wantTrusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32")}
	if diff := cmp.Diff(wantTrusted, c.TrustedProxies, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("trusted (-want +got):\n%s", diff)
	}
	if c.Health.Interval != 500*time.Millisecond {
		t.Errorf("interval = %v", c.Health.Interval)
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	for name, kv := range map[string]map[string]string{
		"PORT":                     {"PORT": "eighty"},
		"HTTPS_PORT":               {"HTTPS_PORT": "70000"},
		"API_UPSTREAM":             {"API_UPSTREAM": "api"},
		"FRONTEND_UPSTREAM":        {"FRONTEND_UPSTREAM": "front end:3000"},
		"API_POLICY":               {"API_POLICY": "random"},
		"TRUSTED_PROXIES":          {"TRUSTED_PROXIES": "10.0.0.0/33"},
		"HEALTH_INTERVAL":          {"HEALTH_INTERVAL": "2"},
		"RETRY_BUDGET_RATIO":       {"RETRY_BUDGET_RATIO": "-1"},
		"TLS_CERT_FILE":            {"TLS_CERT_FILE": "/run/secrets/cert"},
		"ACCESS_LOG":               {"ACCESS_LOG": "yes please"},
		"LOG_LEVEL":                {"LOG_LEVEL": "loud"},
		"INSTANCE_NAME":            {"INSTANCE_NAME": "a b"},
		"EJECT_MAX":                {"EJECT_BASE": "10s", "EJECT_MAX": "1s"},
		"LB_CONFIG_FILE":           {"LB_CONFIG_FILE": "/nonexistent.json"},
		"MAX_INFLIGHT_PER_BACKEND": {"MAX_INFLIGHT_PER_BACKEND": "0"},
		"REDIRECT_HTTPS_PORT":      {"REDIRECT_HTTPS_PORT": "0"},
	} {
		t.Run(name, func(t *testing.T) {
			if kv["INSTANCE_NAME"] == "" {
				kv["INSTANCE_NAME"] = "lb"
			}
			_, err := load(getenvOf(kv), noFile)
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("error %v, want one naming %s", err, name)
			}
		})
	}
}

// The lb and the api read CIDRs with the one parser (platform/env): a zoned
// address is refused (the lb dropped the zone and trusted the address
// anywhere), and an IPv4-mapped prefix means its IPv4 prefix (the lb kept
// it as IPv6, where no unmapped peer ever matched it).
func TestCIDRsAsTheAPIReadsThem(t *testing.T) {
	if _, err := load(getenvOf(map[string]string{"INSTANCE_NAME": "lb", "TRUSTED_PROXIES": "fe80::1%eth0"}), noFile); err == nil ||
		!strings.Contains(err.Error(), "TRUSTED_PROXIES") {
		t.Errorf("TRUSTED_PROXIES=fe80::1%%eth0: error %v, want one naming TRUSTED_PROXIES", err)
	}
	c, err := load(getenvOf(map[string]string{"INSTANCE_NAME": "lb", "TRUSTED_PROXIES": "::ffff:10.0.0.0/104"}), noFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 1 || !c.TrustedProxies[0].Contains(netip.MustParseAddr("10.1.2.3")) {
		t.Errorf("TRUSTED_PROXIES=::ffff:10.0.0.0/104 = %v, want a prefix holding 10.1.2.3", c.TrustedProxies)
	}
}

// One start-up names every bad variable.
func TestEveryBadVariableAtOnce(t *testing.T) {
	_, err := load(getenvOf(map[string]string{"PORT": "eighty", "API_UPSTREAM": "api", "API_POLICY": "random",
		"FRONTEND_HEALTH_PATH": "health", "INSTANCE_NAME": "a b"}), noFile)
	for _, name := range []string{"PORT", "API_UPSTREAM", "API_POLICY", "FRONTEND_HEALTH_PATH", "INSTANCE_NAME"} {
		if err == nil || !strings.Contains(err.Error(), name+":") {
			t.Errorf("error %v, want it to name %s", err, name)
		}
	}
}

func TestConfigFile(t *testing.T) {
	file := `{
	  "routes": [{"path": "/api/", "pool": "api"}, {"path": "/", "pool": "web"}],
	  "pools": [
	    {"name": "api", "upstreams": ["api:8000"], "policy": "hash:X-User"},
	    {"name": "web", "upstreams": ["web:3000", "10.0.0.5:3000"], "health_path": "/ready"}
	  ]
	}`
	c, err := load(getenvOf(map[string]string{"LB_CONFIG_FILE": "/etc/lb.json", "INSTANCE_NAME": "lb"}),
		func(string) ([]byte, error) { return []byte(file), nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []Pool{
		{Name: "api", Upstreams: []Upstream{{"api", 8000}}, Policy: Policy{Kind: Hash, Arg: "X-User"}, HealthPath: "/health"},
		{Name: "web", Upstreams: []Upstream{{"web", 3000}, {"10.0.0.5", 3000}}, Policy: Policy{Kind: RoundRobin}, HealthPath: "/ready"},
	}
	if diff := cmp.Diff(want, c.Pools); diff != "" {
		t.Errorf("pools (-want +got):\n%s", diff)
	}
}

func TestConfigFileErrors(t *testing.T) {
	for _, tt := range []struct{ name, file, want string }{
		{"unknown field", `{"routes":[],"pools":[],"rutes":[]}`, "rutes"},
		{"route to unknown pool", `{"routes":[{"path":"/","pool":"x"}],"pools":[]}`, `"x" is not a defined pool`},
		{"no catch-all", `{"routes":[{"path":"/api/","pool":"a"}],"pools":[{"name":"a","upstreams":["a:1"]}]}`, `no route for "/"`},
		{"duplicate pool", `{"routes":[{"path":"/","pool":"a"}],"pools":[{"name":"a","upstreams":["a:1"]},{"name":"a","upstreams":["a:1"]}]}`, "defined twice"},
		{"no upstream", `{"routes":[{"path":"/","pool":"a"}],"pools":[{"name":"a"}]}`, "no upstream"},
		{"bad path", `{"routes":[{"path":"api","pool":"a"},{"path":"/","pool":"a"}],"pools":[{"name":"a","upstreams":["a:1"]}]}`, "must start with /"},
		{"trailing data", `{"routes":[],"pools":[]} {}`, "trailing"},
		{"not json", `routes: []`, "decode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{
		"":                {Kind: RoundRobin},
		"round_robin":     {Kind: RoundRobin},
		"least_requests":  {Kind: LeastRequests},
		"cookie":          {Kind: Cookie, Arg: "lb_affinity"},
		"cookie:srv":      {Kind: Cookie, Arg: "srv"},
		"hash":            {Kind: Hash},
		"hash:x-tenant":   {Kind: Hash, Arg: "X-Tenant"},
		" least_requests": {Kind: LeastRequests},
	} {
		got, err := ParsePolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"random", "cookie:a b", "hash:x:y", "round_robin:1"} {
		if _, err := ParsePolicy(in); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", in)
		}
	}
}

// FuzzParseFile: any input either fails cleanly or yields a file that
// satisfies the documented invariants.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`{"routes":[{"path":"/","pool":"a"}],"pools":[{"name":"a","upstreams":["a:1"],"policy":"cookie"}]}`))
	f.Add([]byte(`{"routes":[{"path":"/api/","pool":"a"},{"path":"/","pool":"b"}],"pools":[{"name":"a","upstreams":["[::1]:80"]},{"name":"b","upstreams":["b:2"],"policy":"hash:x"}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"pools":[{"name":"","upstreams":[":0"]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := ParseFile(b)
		if err != nil {
			return
		}
		pools := map[string]bool{}
		for _, p := range file.Pools {
			if len(p.Upstreams) == 0 || !strings.HasPrefix(p.HealthPath, "/") {
				t.Fatalf("accepted pool %+v", p)
			}
			for _, u := range p.Upstreams {
				if u.Port == 0 || u.Host == "" {
					t.Fatalf("accepted upstream %+v", u)
				}
			}
			pools[p.Name] = true
		}
		root := false
		for _, r := range file.Routes {
			if !pools[r.Pool] || !strings.HasPrefix(r.Path, "/") {
				t.Fatalf("accepted route %+v", r)
			}
			root = root || r.Path == "/"
		}
		if !root {
			t.Fatal("accepted a file without a route for /")
		}
	})
}

// FuzzEnvironment: whatever the values, Load returns a usable config or
// an error naming a variable; it never panics.
func FuzzEnvironment(f *testing.F) {
	f.Add("api:8000", "least_requests", "10.0.0.0/8", "2s", "8080")
	f.Add("[::1]:80,b:1", "cookie:x", "::1", "1h", "0")
	f.Add("", "hash:", ",", "-1s", "65536")
	f.Fuzz(func(t *testing.T, upstream, policy, cidrs, interval, port string) {
		kv := map[string]string{"API_UPSTREAM": upstream, "API_POLICY": policy, "TRUSTED_PROXIES": cidrs,
			"HEALTH_INTERVAL": interval, "PORT": port, "INSTANCE_NAME": "lb"}
		c, err := load(getenvOf(kv), noFile)
		if err != nil {
			if !strings.ContainsAny(err.Error(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				t.Fatalf("error names no variable: %v", err)
			}
			return
		}
		if len(c.Pools) != 2 || len(c.Pools[0].Upstreams) == 0 || c.Port < 0 || c.Port > 65535 || c.Health.Interval <= 0 {
			t.Fatalf("accepted an unusable config: %+v", c)
		}
	})
}

// The redirect to https names the port clients reach HTTPS on: the lb's
// own HTTPS_PORT unless REDIRECT_HTTPS_PORT names a published one (Compose
// publishes the container's 443 on LB_HTTPS_PORT).
func TestRedirectPortDefaultsToHTTPSPort(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want int
	}{
		{map[string]string{}, 443},
		{map[string]string{"HTTPS_PORT": "8443"}, 8443},
		{map[string]string{"REDIRECT_HTTPS": "true", "REDIRECT_HTTPS_PORT": "9443"}, 9443},
	} {
		tt.env["INSTANCE_NAME"] = "lb"
		c, err := load(getenvOf(tt.env), noFile)
		if err != nil {
			t.Fatal(err)
		}
		if c.TLS.RedirectPort != tt.want {
			t.Errorf("%v: redirect port %d, want %d", tt.env, c.TLS.RedirectPort, tt.want)
		}
	}
}
