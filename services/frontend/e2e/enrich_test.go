package e2e_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/docker-examples/stack/services/api/registrytest"
)

// TestEnrichmentPages: the item page shows what the registry (a real one,
// in process), GitHub (a fake replaying its documented shapes) and the
// link checker found, and the refresh button; the list shows badges and
// filters by them; the import page previews, then applies, a compose file.
func TestEnrichmentPages(t *testing.T) {
	if stack.skip != "" {
		t.Skip(stack.skip)
	}
	if stack.ui == nil {
		t.Skip("needs the in-process stack: the api must reach this test's registry and fakes")
	}
	reg := registrytest.Start(t, registrytest.Options{})
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	reg.Push(t, "acme/shop:1.2", registrytest.Image(t, t0))
	reg.Push(t, "acme/shop:1.3", registrytest.Image(t, t0.Add(24*time.Hour)))
	reg.PushIndex(t, "acme/shop:2.0", t0.Add(48*time.Hour), "linux/amd64", "linux/arm64/v8")
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/repos/acme/shop":
			// pushed_at is a later push to another branch than the default one.
			fmt.Fprint(w, `{"full_name":"acme/shop","stargazers_count":1234,"archived":true,"default_branch":"main","pushed_at":"2026-09-30T12:00:00Z","license":{"spdx_id":"Apache-2.0","name":"Apache License 2.0"}}`)
		case "/repos/acme/shop/branches/main":
			fmt.Fprint(w, `{"name":"main","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d","commit":{"author":{"name":"Jane Doe","date":"2026-09-28T09:00:00Z"},"committer":{"name":"GitHub","date":"2026-09-29T08:00:00Z"},"message":"Merge pull request #12"}},"protected":true}`)
		case "/repos/acme/shop/releases/latest":
			fmt.Fprint(w, `{"tag_name":"v2.0.0","published_at":"2026-10-03T09:00:00Z"}`)
		default:
			w.WriteHeader(404)
			fmt.Fprint(w, `{"message":"Not Found"}`)
		}
	}))
	defer gh.Close()
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old-guide" {
			http.NotFound(w, r)
		}
	}))
	defer docs.Close()
	stack.apiEnv = map[string]string{"ENRICH": "on", "REGISTRY_INSECURE": reg.Host, "GITHUB_API_URL": gh.URL, "LINK_CHECK_ALLOW": "127.0.0.1/32"}
	t.Cleanup(func() { stack.apiEnv = nil })

	api := newAPIClient(t)
	var it item
	body := map[string]any{"name": unique("shop"), "image": reg.Host + "/acme/shop:1.2", "description": "the web shop",
		"source_url": "https://github.com/acme/shop", "docs_urls": []string{docs.URL + "/guide", docs.URL + "/old-guide"}}
	if code := api.call("POST", "/api/inventory", body, &it); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	u := newUser(t)
	u.signIn()
	u.open("/items/" + it.ID)
	// The page updates itself from the live event the worker publishes.
	u.waitFor("the checks' results", `!!(document.querySelector("#registry-facts .state-ok") && document.querySelector("#github-facts .state-ok")) && document.querySelectorAll("#link-facts tbody tr").length === 3`)
	if got := u.text(`[data-fact="update"]`); !strings.Contains(got, "1.2 → 1.3") || !strings.Contains(got, "1.2 → 2.0 (new major)") {
		t.Errorf("update shown as %q", got)
	}
	if got := u.text("#github-facts h2"); !strings.Contains(got, "archived") {
		t.Errorf("GitHub heading %q has no archived badge", got)
	}
	if got := eval[string](u, `document.querySelector('[data-fact="pushed"] time')?.getAttribute("datetime") + " " + document.querySelector('[data-fact="pushed"]').previousElementSibling.textContent`); got != "2026-09-29T08:00:00Z Last push to main" {
		t.Errorf("last push shown as %q, want the default branch's head commit date", got)
	}
	if got := u.text(`[data-fact="release"]`); !strings.Contains(got, "v2.0.0") {
		t.Errorf("latest release shown as %q", got)
	}
	if got := u.text(`#link-facts tr[data-link-state="broken"]`); !strings.Contains(got, "404") {
		t.Errorf("broken link row: %q", got)
	}
	if got := u.text(`[data-fact="digest"]`); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("digest shown as %q", got)
	}
	u.shot("item-enriched")
	u.do("check now", chromedp.Click(chromedp.CSS("#refresh")))
	u.waitFor("the queued notice", `!!document.querySelector("#item-notice")?.textContent.includes("queued")`)

	u.open("/?update=available")
	u.waitFor("the filtered list", `!!document.querySelector("#filter-update")?.checked && document.querySelectorAll("tbody tr").length === 1`)
	if got := u.text("tbody tr .badges"); !strings.Contains(got, "update") || !strings.Contains(got, "archived") || !strings.Contains(got, "broken link") {
		t.Errorf("list badges: %q", got)
	}
	u.shot("inventory-badges")

	u.open("/import")
	compose := fmt.Sprintf("name: e2eshop\nservices:\n  web:\n    image: %s/acme/shop:${TAG:-1.3}\n  worker:\n    build: .\n", reg.Host)
	u.do("paste and preview",
		fill("#compose-text", compose),
		chromedp.Click(chromedp.CSS("#import-preview")))
	u.waitFor("the preview", `!!(document.querySelector('#import-changes tr[data-action="created"]') && document.querySelector('#import-changes tr[data-action="skipped"]'))`)
	u.shot("import-preview")
	u.do("apply", chromedp.Click(chromedp.CSS("#import-apply")))
	u.waitFor("the import", `!!(document.querySelector("#import-result h2")?.textContent.startsWith("Imported") && document.querySelector('#import-changes tr[data-action="created"] a'))`)
	var page struct{ Items []item }
	api.call("GET", "/api/inventory?label=project:e2eshop", nil, &page)
	if len(page.Items) != 1 {
		t.Errorf("after the import, %d items labelled project:e2eshop", len(page.Items))
	}
	u.do("bad YAML", fill("#compose-text", "services:\n  web:\n    image: a: b\n"), chromedp.Click(chromedp.CSS("#import-preview")))
	u.waitFor("the error", `!!document.querySelector("#import-error")?.textContent.includes("line 3")`)
}
