package app

// The enrichment and import routes as main wires them: real PostgreSQL and
// Redis, a real OCI registry (distribution, in process), a fake GitHub
// replaying documented shapes, local link targets; every answer is
// validated against the API's own OpenAPI document.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
	"github.com/docker-examples/stack/services/api/registrytest"
)

func enrichedInstance(t *testing.T) (base, docs string, reg *registrytest.Registry, env map[string]string) {
	t.Helper()
	reg = registrytest.Start(t, registrytest.Options{})
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-RateLimit-Remaining", "4999")
		switch r.URL.Path {
		case "/repos/acme/app":
			fmt.Fprint(w, `{"full_name":"acme/app","stargazers_count":7,"archived":true,"default_branch":"main","pushed_at":"2026-10-01T00:00:00Z","license":{"spdx_id":"MIT","name":"MIT License"}}`)
		case "/repos/acme/app/branches/main":
			fmt.Fprint(w, `{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d","commit":{"committer":{"name":"GitHub","date":"2026-09-29T08:00:00Z"}}},"protected":false}`)
		case "/repos/acme/app/releases/latest":
			fmt.Fprint(w, `{"tag_name":"v1.3.0","published_at":"2026-10-02T00:00:00Z"}`)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message":"Not Found"}`)
		}
	}))
	t.Cleanup(gh.Close)
	links := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gone" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(links.Close)
	env = map[string]string{"DATABASE_URL": pgtest.URL(t), "REDIS_URL": redistest.URL(t)}
	base = instance(t, "api-enrich", env["DATABASE_URL"], env["REDIS_URL"], map[string]string{
		"ENRICH": "on", "REGISTRY_INSECURE": reg.Host, "GITHUB_API_URL": gh.URL,
		"LINK_CHECK_ALLOW": "127.0.0.1/32",
	})
	return base, links.URL, reg, env
}

func TestEnrichmentAndImportThroughTheAPI(t *testing.T) {
	base, docs, reg, env := enrichedInstance(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	reg.Push(t, "acme/app:1.2", registrytest.Image(t, t0))
	reg.Push(t, "acme/app:1.3", registrytest.Image(t, t0))
	v := newValidator(t, base)

	a := v.do(call{method: "POST", url: base + "/api/inventory", header: keyHeader(), body: fmt.Sprintf(
		`{"name":"app","image":"%s/acme/app:1.2","source_url":"https://github.com/acme/app","docs_urls":["%s/ok","%s/gone"]}`,
		reg.Host, docs, docs)})
	if a.status != http.StatusCreated {
		t.Fatalf("create = %d %s", a.status, a.body)
	}
	var it struct {
		ID       string
		Registry struct {
			State  string
			Update struct {
				Available     bool
				NewestInMajor string `json:"newest_in_major"`
			}
		}
		GitHub struct {
			State    string
			Archived bool
		}
		Links []struct{ State string }
	}
	a.decode(t, &it)
	if it.Registry.State != "pending" || it.GitHub.State != "pending" {
		t.Errorf("a new item's sources: registry %q github %q, want pending", it.Registry.State, it.GitHub.State)
	}
	path := base + "/api/inventory/" + it.ID
	eventually(t, "the worker checks the new item", func() string {
		a := v.do(call{method: "GET", url: path})
		a.decode(t, &it)
		if it.Registry.State == "pending" || it.GitHub.State == "pending" || len(it.Links) == 0 {
			return string(a.body)
		}
		return ""
	})
	if it.Registry.State != "ok" || !it.Registry.Update.Available || it.Registry.Update.NewestInMajor != "1.3" {
		t.Errorf("registry = %+v", it.Registry)
	}
	if !it.GitHub.Archived || len(it.Links) != 3 || it.Links[1].State != "broken" {
		t.Errorf("github %+v links %+v", it.GitHub, it.Links)
	}
	for _, q := range []string{"update=available", "archived=true", "links=broken"} {
		var page struct{ Items []struct{ ID string } }
		v.do(call{method: "GET", url: base + "/api/inventory?" + q}).decode(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != it.ID {
			t.Errorf("?%s listed %+v", q, page.Items)
		}
	}
	if a := v.do(call{method: "GET", url: base + "/api/inventory?update=soon"}); a.status != 422 {
		t.Errorf("?update=soon = %d", a.status)
	}

	if a := v.do(call{method: "POST", url: path + "/refresh", header: keyHeader()}); a.status != http.StatusAccepted {
		t.Errorf("refresh = %d %s", a.status, a.body)
	}
	if a := v.do(call{method: "POST", url: path + "/refresh"}); a.status != http.StatusUnauthorized {
		t.Errorf("refresh without a key = %d", a.status)
	}
	if a := v.do(call{method: "POST", url: base + "/api/inventory/0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a/refresh", header: keyHeader()}); a.status != 404 {
		t.Errorf("refresh of an unknown item = %d", a.status)
	}

	// Compose import: dry run, apply, apply again.
	compose := fmt.Sprintf("name: shop\nservices:\n  web:\n    image: %s/acme/app:${TAG:-1.3}\n  worker:\n    build: .\n  db:\n    image: postgres:17-alpine\n    profiles: [db]\n", reg.Host)
	yaml := func(q, body string) answer {
		return v.do(call{method: "POST", url: base + "/api/import/compose" + q, body: body,
			header: map[string]string{"X-API-Key": wireKey, "Content-Type": "application/yaml"}})
	}
	type result struct {
		Changes []struct{ Service, Action, Name string }
	}
	actions := func(a answer) string {
		var r result
		a.decode(t, &r)
		var out []string
		for _, c := range r.Changes {
			out = append(out, c.Service+"="+c.Action)
		}
		return strings.Join(out, ",")
	}
	if a := yaml("?dry_run=true", compose); a.status != 200 || actions(a) != "db=created,web=created,worker=skipped" {
		t.Errorf("dry run = %d %s", a.status, a.body)
	}
	var page struct{ Items []struct{ Name string } }
	v.do(call{method: "GET", url: base + "/api/inventory?label=project:shop"}).decode(t, &page)
	if len(page.Items) != 0 {
		t.Errorf("a dry run wrote %d items", len(page.Items))
	}
	if a := yaml("", compose); a.status != 200 || actions(a) != "db=created,web=created,worker=skipped" {
		t.Errorf("import = %d %s", a.status, a.body)
	}
	if a := yaml("", compose); a.status != 200 || actions(a) != "db=unchanged,web=unchanged,worker=skipped" {
		t.Errorf("import again = %d %s", a.status, a.body)
	}
	// A pattern the user set on an imported item survives the next
	// import that changes its image.
	var web struct {
		Items []struct{ ID string }
	}
	v.do(call{method: "GET", url: base + "/api/inventory?q=shop-web"}).decode(t, &web)
	if len(web.Items) != 1 {
		t.Fatalf("shop-web listed %d times", len(web.Items))
	}
	webPath := base + "/api/inventory/" + web.Items[0].ID
	if a := v.do(call{method: "PATCH", url: webPath, header: map[string]string{"X-API-Key": wireKey, "Content-Type": "application/merge-patch+json"},
		body: `{"tag_exclude":"1\\.4"}`}); a.status != 200 {
		t.Fatalf("patch tag_exclude = %d %s", a.status, a.body)
	}
	jsonBody := fmt.Sprintf(`{"compose":%q,"variables":{"TAG":"1.2"}}`, compose)
	if a := v.do(call{method: "POST", url: base + "/api/import/compose", header: keyHeader(), body: jsonBody}); a.status != 200 || actions(a) != "db=unchanged,web=updated,worker=skipped" {
		t.Errorf("import with TAG=1.2 = %d %s", a.status, a.body)
	}
	var imported struct {
		Image      string `json:"image"`
		TagExclude string `json:"tag_exclude"`
	}
	v.do(call{method: "GET", url: webPath}).decode(t, &imported)
	if !strings.HasSuffix(imported.Image, ":1.2") || imported.TagExclude != `1\.4` {
		t.Errorf("after the import shop-web is %+v, want image :1.2 and its tag_exclude kept", imported)
	}
	bad := yaml("", "services:\n  web:\n    image: a: b\n")
	if bad.status != 400 || bad.problemType() != "invalid-compose" || !strings.Contains(string(bad.body), "line 3") {
		t.Errorf("bad YAML = %d %s", bad.status, bad.body)
	}
	if a := yaml("", strings.Repeat("#", 1<<20+1)); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB + 1 file = %d", a.status)
	}

	// The same from the command line: TAG back to its default 1.3.
	file := t.TempDir() + "/compose.yaml"
	if err := os.WriteFile(file, []byte(compose), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string { return env[k] }
	var out bytes.Buffer
	if err := Run(context.Background(), []string{"import", "compose", "--dry-run", file}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web      updated") || !strings.Contains(out.String(), "dry run") {
		t.Errorf("api import compose --dry-run printed:\n%s", out.String())
	}
	out.Reset()
	if err := Run(context.Background(), []string{"import", "compose", "--var", "TAG=1.2", file}, getenv, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "web      unchanged") {
		t.Errorf("api import compose printed:\n%s", out.String())
	}
	if err := Run(context.Background(), []string{"import", "compose", "/nonexistent.yaml"}, getenv, &out); err == nil {
		t.Error("a missing file was accepted")
	}
}

// validator sends calls and checks every answer against /openapi.json.
type validator struct {
	t      *testing.T
	router routers.Router
}

func newValidator(t *testing.T, base string) *validator {
	t.Helper()
	a := do(t, call{method: "GET", url: base + "/openapi.json"})
	doc, err := openapi3.NewLoader().LoadFromData(a.body)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, router: r}
}

func (v *validator) do(c call) answer {
	v.t.Helper()
	a := do(v.t, c)
	u := c.url[strings.Index(c.url[len("http://"):], "/")+len("http://"):]
	hr := httptest.NewRequest(c.method, "http://example.com"+u, bytes.NewReader([]byte(c.body)))
	route, params, err := v.router.FindRoute(hr)
	if err != nil {
		v.t.Errorf("%s %s: not in the document: %v", c.method, u, err)
		return a
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route, Options: opts}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: a.status, Header: a.header,
		Body: io.NopCloser(bytes.NewReader(a.body)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("%s %s -> %d: response does not match the document: %v\n%.400s", c.method, u, a.status, err, a.body)
	}
	return a
}
