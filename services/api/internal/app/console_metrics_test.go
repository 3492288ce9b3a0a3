package app

import (
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/services/api/registrytest"
)

// The observability console's panels and the provisioned dashboard query
// the api's metrics by name: every api_* name they use is one the api
// exports once it has served, cached and enriched, so no panel stays empty
// because of a misspelt or imagined metric.
func TestConsoleQueriesNameRealMetrics(t *testing.T) {
	used := map[string]bool{}
	for _, file := range []string{
		"../../../console/internal/site/web/console.js",
		"../../../../deploy/observability/dashboards/stack.json",
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`\bapi_[a-z_]+`).FindAllString(string(b), -1) {
			used[name] = true
		}
	}
	if len(used) < 5 {
		t.Fatalf("found only %v in the console's queries", used)
	}

	base, _, reg, _ := enrichedInstance(t)
	reg.Push(t, "acme/app:1.2", registrytest.Image(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)))
	a := do(t, call{method: "POST", url: base + "/api/inventory", header: keyHeader(), body: fmt.Sprintf(
		`{"name":"app","image":"%s/acme/app:1.2","source_url":"https://github.com/acme/app"}`, reg.Host)})
	if a.status != http.StatusCreated {
		t.Fatalf("create = %d %s", a.status, a.body)
	}
	var it struct {
		ID       string
		Registry struct{ State string }
	}
	a.decode(t, &it)
	eventually(t, "the worker checks the new item", func() string {
		a := do(t, call{method: "GET", url: base + "/api/inventory/" + it.ID})
		a.decode(t, &it)
		if it.Registry.State == "pending" {
			return string(a.body)
		}
		return ""
	})
	do(t, call{method: "GET", url: base + "/api/inventory/" + it.ID}) // a cache hit

	// The job is counted once it has stored and published its results.
	var scrape string
	eventually(t, "every metric the console queries is exported", func() string {
		scrape = string(do(t, call{method: "GET", url: base + "/metrics"}).body)
		exported := map[string]bool{}
		for _, line := range strings.Split(scrape, "\n") {
			if name, _, _ := strings.Cut(strings.TrimSpace(line), " "); name != "" && !strings.HasPrefix(name, "#") {
				name, _, _ = strings.Cut(name, "{")
				exported[name] = true
			}
		}
		var missing []string
		for name := range used {
			if !exported[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			return ""
		}
		slices.Sort(missing)
		return fmt.Sprintf("the console queries metrics the api does not export: %v", missing)
	})
	if !strings.Contains(scrape, `api_external_quota_remaining{service="github"} 4999`) {
		t.Errorf("GitHub's quota is not exported:\n%s", grepLines(scrape, "api_external"))
	}
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
