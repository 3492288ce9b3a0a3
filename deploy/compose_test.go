// Package deploy holds the three deployment patterns' compose files; its
// tests check the hardening every pattern promises (README, "Security"):
// on the files as written, with no engine needed, and (redis_test.go) the
// Redis configurations run for real with the api in front of them, which
// needs an engine (skipped without one, failed under CI=true).
package deploy

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type pattern struct {
	file  string
	swarm bool
}

var patterns = []pattern{
	{"basic/compose.yaml", false},
	{"cluster/compose.yaml", false},
	{"swarm/stack.yaml", true},
}

func load(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc
}

func m(v any) map[string]any { x, _ := v.(map[string]any); return x }

func list(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
	case map[string]any: // networks: {name: {…}}
		for k := range x {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func services(t *testing.T, doc map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for name, v := range m(doc["services"]) {
		out[name] = m(v)
	}
	if len(out) == 0 {
		t.Fatal("no services")
	}
	return out
}

// Every container's logs rotate, and every container has memory, CPU and
// process limits (CIS Docker 5.10, 5.11, 5.28), in every pattern.
func TestEveryServiceHasLimitsAndLogRotation(t *testing.T) {
	for _, p := range patterns {
		for name, svc := range services(t, load(t, p.file)) {
			t.Run(p.file+"/"+name, func(t *testing.T) {
				lg := m(svc["logging"])
				opts := m(lg["options"])
				if lg["driver"] != "json-file" || opts["max-size"] == nil || opts["max-file"] == nil {
					t.Errorf("logging = %v, want json-file with max-size and max-file", lg)
				}
				if p.swarm {
					lim := m(m(m(svc["deploy"])["resources"])["limits"])
					for _, k := range []string{"memory", "cpus", "pids"} {
						if lim[k] == nil {
							t.Errorf("deploy.resources.limits.%s is not set (limits: %v)", k, lim)
						}
					}
				} else {
					for _, k := range []string{"mem_limit", "cpus", "pids_limit"} {
						if svc[k] == nil {
							t.Errorf("%s is not set", k)
						}
					}
				}
				for _, tm := range list(svc["tmpfs"]) {
					if !strings.Contains(tm, "size=") {
						t.Errorf("tmpfs %q has no size", tm)
					}
				}
				vols, _ := svc["volumes"].([]any)
				for _, v := range vols {
					if vm := m(v); vm["type"] == "tmpfs" && m(vm["tmpfs"])["size"] == nil {
						t.Errorf("tmpfs volume %v has no size", vm)
					}
				}
			})
		}
	}
}

// PostgreSQL and Redis are on an internal network that only the api and
// the migrate job join, and are never published.
func TestDataServicesOnlyOnTheInternalBackend(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.file, func(t *testing.T) {
			doc := load(t, p.file)
			if nw := m(m(doc["networks"])["backend"]); nw["internal"] != true {
				t.Errorf("networks.backend = %v, want internal: true", nw)
			}
			for name, svc := range services(t, doc) {
				nets := list(svc["networks"])
				onBackend := slices.Contains(nets, "backend")
				switch name {
				case "postgres", "redis", "redis-cache":
					if !slices.Equal(nets, []string{"backend"}) {
						t.Errorf("%s networks = %v, want only backend", name, nets)
					}
					if svc["ports"] != nil {
						t.Errorf("%s publishes %v", name, svc["ports"])
					}
				case "api", "migrate":
					if !onBackend {
						t.Errorf("%s is not on the backend network", name)
					}
				default:
					if onBackend {
						t.Errorf("%s is on the backend network: only the api and migrate may be", name)
					}
				}
			}
		})
	}
}

// Both Redis instances have the ACL file as a secret; the api reads their
// URLs, which carry its password, from secrets. The cache has an instance
// of its own (REDIS_CACHE_URL), which runs cache.conf.
func TestRedisNeedsAPassword(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.file, func(t *testing.T) {
			svcs := services(t, load(t, p.file))
			for _, name := range []string{"redis", "redis-cache"} {
				var secrets []string
				rs, _ := svcs[name]["secrets"].([]any)
				for _, s := range rs {
					if sm := m(s); sm != nil {
						secrets = append(secrets, fmt.Sprint(sm["target"]))
					}
				}
				if !slices.Contains(secrets, "redis_users") {
					t.Errorf("%s secrets = %v, want redis_users (its ACL file)", name, secrets)
				}
			}
			if got, want := fmt.Sprint(svcs["redis-cache"]["command"]), "[redis-server /usr/local/etc/redis/cache.conf]"; got != want {
				t.Errorf("redis-cache command = %v, want %v", got, want)
			}
			env := m(svcs["api"]["environment"])
			for name, file := range map[string]string{"REDIS_URL": "/run/secrets/redis_url", "REDIS_CACHE_URL": "/run/secrets/redis_cache_url"} {
				if env[name] != nil || env[name+"_FILE"] != file {
					t.Errorf("api %s = %v, %s_FILE = %v; want only the file form, %s", name, env[name], name, env[name+"_FILE"], file)
				}
			}
		})
	}
}

// The basic stack publishes on the host's loopback unless BIND_ADDRESS says
// otherwise (the observability profile's stores and console: always on
// loopback).
func TestBasicPublishesOnLoopback(t *testing.T) {
	for name, svc := range services(t, load(t, "basic/compose.yaml")) {
		for _, port := range list(svc["ports"]) {
			if !strings.HasPrefix(port, "${BIND_ADDRESS:-127.0.0.1}:") && !strings.HasPrefix(port, "127.0.0.1:") {
				t.Errorf("%s publishes %q beyond the host's loopback", name, port)
			}
		}
	}
}

// The api trusts X-Forwarded-For from exactly the stack's own proxies,
// named, never from a whole private range a neighbour may hold.
func TestAPITrustsExactlyItsProxies(t *testing.T) {
	want := map[string]string{
		"basic/compose.yaml":   "frontend",
		"cluster/compose.yaml": "lb,frontend",
		"swarm/stack.yaml":     "tasks.lb,tasks.frontend",
	}
	for _, p := range patterns {
		env := m(services(t, load(t, p.file))["api"]["environment"])
		if got := fmt.Sprint(env["TRUSTED_PROXIES"]); got != want[p.file] {
			t.Errorf("%s: api TRUSTED_PROXIES = %q, want %q", p.file, got, want[p.file])
		}
	}
}

// In every pattern the schema is applied by a one-shot migrate job as its
// owner, and the api serves as inventory_api (the role the job grants: no
// DDL, timeouts) without the owner's password and without migrating
// itself. The swarm's job is a service whose task is not started again
// once it has exited 0.
func TestAPIServesAsTheLeastPrivilegedRole(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.file, func(t *testing.T) {
			svcs := services(t, load(t, p.file))
			api, migrate := svcs["api"], svcs["migrate"]
			if migrate == nil {
				t.Fatal("no migrate service")
			}
			env := m(api["environment"])
			if env["DB_USER"] != "inventory_api" || env["DB_PASSWORD_FILE"] != "/run/secrets/db_api_password" {
				t.Errorf("api DB_USER %v, DB_PASSWORD_FILE %v: want inventory_api, /run/secrets/db_api_password", env["DB_USER"], env["DB_PASSWORD_FILE"])
			}
			if v, ok := env["AUTO_MIGRATE"]; ok && fmt.Sprint(v) != "false" {
				t.Errorf("api AUTO_MIGRATE = %v: the migrate job applies the schema", v)
			}
			if s := list(api["secrets"]); slices.Contains(s, "db_password") || !slices.Contains(s, "db_api_password") {
				t.Errorf("api secrets %v: want db_api_password and not the owner's db_password", s)
			}
			menv := m(migrate["environment"])
			if got := list(migrate["command"]); !slices.Equal(got, []string{"migrate", "up"}) {
				t.Errorf("migrate command %v, want [migrate up]", got)
			}
			if menv["DB_USER"] != "inventory" || menv["DB_API_USER"] != "inventory_api" ||
				menv["DB_API_PASSWORD_FILE"] != "/run/secrets/db_api_password" {
				t.Errorf("migrate DB_USER %v, DB_API_USER %v, DB_API_PASSWORD_FILE %v: want the owner granting inventory_api",
					menv["DB_USER"], menv["DB_API_USER"], menv["DB_API_PASSWORD_FILE"])
			}
			if !p.swarm {
				return
			}
			rp := m(m(migrate["deploy"])["restart_policy"])
			if rp["condition"] != "on-failure" {
				t.Errorf("swarm migrate restart_policy %v: want on-failure (a task that exits 0 is done)", rp)
			}
		})
	}
}

// The cluster's and swarm's lb send plain HTTP to HTTPS unless told not to
// (REDIRECT_HTTPS=false), name the published HTTPS port in the redirect,
// send HSTS, and serve the certificate of deploy/secrets/tls_cert.pem and
// tls_key.pem, given as Docker secrets (issue 11 item 7).
func TestLBServesHTTPSWithTheGivenCertificate(t *testing.T) {
	for _, p := range patterns[1:] {
		t.Run(p.file, func(t *testing.T) {
			doc := load(t, p.file)
			lb := services(t, doc)["lb"]
			env := m(lb["environment"])
			for k, want := range map[string]string{
				"REDIRECT_HTTPS":      "${REDIRECT_HTTPS:-true}",
				"REDIRECT_HTTPS_PORT": "${LB_HTTPS_PORT:-443}",
				"HSTS_MAX_AGE":        "${HSTS_MAX_AGE:-8760h}",
				"TLS_CERT_FILE":       "/run/secrets/tls_cert",
				"TLS_KEY_FILE":        "/run/secrets/tls_key",
			} {
				if got := fmt.Sprint(env[k]); got != want {
					t.Errorf("lb %s = %q, want %q", k, got, want)
				}
			}
			var targets []string
			ss, _ := lb["secrets"].([]any)
			for _, s := range ss {
				targets = append(targets, fmt.Sprint(m(s)["target"]))
			}
			slices.Sort(targets)
			if !slices.Equal(targets, []string{"tls_cert", "tls_key"}) {
				t.Errorf("lb secrets = %v, want tls_cert and tls_key", targets)
			}
			for name, file := range map[string]string{"tls_cert": "../secrets/tls_cert.pem", "tls_key": "../secrets/tls_key.pem"} {
				if got := m(m(doc["secrets"])[name])["file"]; got != file {
					t.Errorf("secret %s from %v, want %s", name, got, file)
				}
			}
		})
	}
}
