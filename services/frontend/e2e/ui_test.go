package e2e_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

func TestCreateItem(t *testing.T) {
	api := newAPIClient(t)
	u := newUser(t)
	u.signIn()
	name := unique("e2e-create")
	u.open("/")
	u.do("open the form",
		chromedp.Click(chromedp.CSS("#new-item")),
		chromedp.WaitVisible(chromedp.CSS("#item-form")),
		fill("#f-name", name),
		fill("#f-image", "postgres:17-alpine"),
		fill("#f-description", "primary database"),
		fill("#f-labels", "db, e2e"),
		fill("#f-source_url", "https://github.com/docker-library/postgres"),
		fill("#f-docs_urls", "https://hub.docker.com/_/postgres"),
	)
	u.shot("create-form")
	u.do("save", chromedp.Click(chromedp.CSS("#save")))
	u.waitFor("the item page", fmt.Sprintf(`document.querySelector("h1")?.textContent === %q && !!document.querySelector("#item-details")`, name))
	id := eval[string](u, `location.pathname.split("/").pop()`)
	t.Cleanup(func() { api.call("DELETE", "/api/inventory/"+id, nil, nil) })
	if got := u.text(`[data-field="image_normalized"]`); !strings.Contains(got, "postgres:17-alpine") {
		t.Errorf("normalised image shown as %q", got)
	}
	u.shot("item-page")

	got, code := api.get(id)
	if code != http.StatusOK || got.Name != name || got.Image != "postgres:17-alpine" || strings.Join(got.Labels, ",") != "db,e2e" {
		t.Errorf("API has %d %+v, want the item as entered", code, got)
	}

	// The new item is in the inventory, found by search.
	u.open("/")
	u.do("search", fill("#q", name))
	// The search applies as one types, and lands in the URL so it can be shared.
	u.waitFor("the search result", fmt.Sprintf(`location.search === %q && document.querySelector("main").getAttribute("aria-busy") !== "true" &&
		document.querySelectorAll("tbody tr").length === 1 && document.querySelector("tbody tr td a")?.textContent === %q`, "?q="+name, name))
	u.shot("inventory-search")
}

func TestEditShowsValidationErrorsNextToFields(t *testing.T) {
	api := newAPIClient(t)
	it := api.create(unique("e2e-edit"))
	u := newUser(t)
	u.signIn()
	u.open("/items/" + it.ID + "/edit")
	u.do("enter an invalid image",
		chromedp.WaitVisible(chromedp.CSS("#item-form")),
		fill("#f-image", "Not A Valid Image!!"),
		chromedp.Click(chromedp.CSS("#save")),
		chromedp.WaitVisible(chromedp.CSS("#f-image-error")),
	)
	if msg := u.text("#f-image-error"); msg == "" {
		t.Error("the image error is empty")
	}
	if inv := eval[string](u, `document.querySelector("#f-image").getAttribute("aria-invalid")`); inv != "true" {
		t.Errorf("image input aria-invalid = %q, want true", inv)
	}
	if desc := eval[string](u, `document.querySelector("#f-image").getAttribute("aria-describedby")`); !strings.Contains(desc, "f-image-error") {
		t.Errorf("image input aria-describedby = %q, want it to name the error", desc)
	}
	if focused := eval[string](u, `document.activeElement.id`); focused != "f-image" {
		t.Errorf("focus is on #%s, want the invalid field", focused)
	}
	if hidden := eval[bool](u, `document.querySelector("#f-name-error").hidden`); !hidden {
		t.Error("the valid name field shows an error")
	}
	u.shot("edit-validation-error")
	if got, _ := api.get(it.ID); got.Image != it.Image {
		t.Errorf("the invalid image was saved: %q", got.Image)
	}

	// Correcting the field saves.
	u.do("fix and save", fill("#f-image", "redis:7.4-bookworm"), chromedp.Click(chromedp.CSS("#save")))
	u.waitFor("the item page", `!!document.querySelector("#item-details")`)
	if got, _ := api.get(it.ID); got.Image != "redis:7.4-bookworm" {
		t.Errorf("image after the fix = %q", got.Image)
	}
}

func TestEditTagPatterns(t *testing.T) {
	api := newAPIClient(t)
	it := api.create(unique("e2e-tags"))
	u := newUser(t)
	u.signIn()
	u.open("/items/" + it.ID + "/edit")
	u.do("enter a pattern that is not a regular expression",
		chromedp.WaitVisible(chromedp.CSS("#item-form")),
		fill("#f-tag_include", `^7\.(\d+-bookworm$`),
		chromedp.Click(chromedp.CSS("#save")),
		chromedp.WaitVisible(chromedp.CSS("#f-tag_include-error")),
	)
	if msg := u.text("#f-tag_include-error"); !strings.Contains(msg, "regular expression") {
		t.Errorf("the pattern's error reads %q, want it to say what is expected", msg)
	}
	if focused := eval[string](u, `document.activeElement.id`); focused != "f-tag_include" {
		t.Errorf("focus is on #%s, want the invalid pattern", focused)
	}
	u.shot("edit-tag-pattern-error")
	if got, _ := api.get(it.ID); got.Version != it.Version || got.TagInclude != "" {
		t.Errorf("the invalid pattern was saved: version %d tag_include %q", got.Version, got.TagInclude)
	}

	u.do("fix and save",
		fill("#f-tag_include", `^7\.\d+-bookworm$`),
		fill("#f-tag_exclude", `7\.2-bookworm`),
		chromedp.Click(chromedp.CSS("#save")))
	u.waitFor("the item page", `!!document.querySelector("#item-details")`)
	if got := u.text(`[data-field="tag_include"]`); got != `^7\.\d+-bookworm$` {
		t.Errorf("the item page shows tag_include %q", got)
	}
	got, _ := api.get(it.ID)
	if got.TagInclude != `^7\.\d+-bookworm$` || got.TagExclude != `7\.2-bookworm` || got.Description != it.Description {
		t.Errorf("API has tag_include %q tag_exclude %q description %q after the save", got.TagInclude, got.TagExclude, got.Description)
	}

	// The form shows the stored patterns, and saving it again keeps them.
	u.open("/items/" + it.ID + "/edit")
	u.waitFor("the form filled in", `document.querySelector("#f-tag_exclude")?.value === "7\\.2-bookworm"`)
	u.do("save unchanged", chromedp.Click(chromedp.CSS("#save")))
	u.waitFor("the item page", `!!document.querySelector("#item-details")`)
	if again, _ := api.get(it.ID); again.TagInclude != got.TagInclude || again.TagExclude != got.TagExclude {
		t.Errorf("saving the form again changed the patterns to %q, %q", again.TagInclude, again.TagExclude)
	}
}

func TestConflictBetweenTwoTabs(t *testing.T) {
	api := newAPIClient(t)
	it := api.create(unique("e2e-conflict"))
	a := newUser(t)
	a.signIn()
	b := a.tab()
	for _, tab := range []*user{a, b} {
		tab.open("/items/" + it.ID + "/edit")
		tab.do("wait for the form", chromedp.WaitVisible(chromedp.CSS("#item-form")))
	}
	b.do("save in tab B", fill("#f-description", "changed in tab B"), chromedp.Click(chromedp.CSS("#save")))
	b.waitFor("tab B's save", `!!document.querySelector("#item-details")`)

	a.do("save in tab A", fill("#f-description", "changed in tab A"), chromedp.Click(chromedp.CSS("#save")),
		chromedp.WaitVisible(chromedp.CSS("#conflict")))
	if msg := a.text("#conflict"); !strings.Contains(msg, "Someone else changed this item") {
		t.Errorf("conflict message = %q", msg)
	}
	a.shot("conflict")
	if got, _ := api.get(it.ID); got.Description != "changed in tab B" {
		t.Fatalf("tab A overwrote tab B: description %q", got.Description)
	}

	a.do("reload", chromedp.Click(chromedp.CSS("#reload")), chromedp.WaitNotVisible(chromedp.CSS("#conflict")))
	if got := eval[string](a, `document.querySelector("#f-description").value`); got != "changed in tab B" {
		t.Errorf("after reload the form shows %q, want tab B's version", got)
	}
	a.do("save again", fill("#f-description", "changed in tab A after reload"), chromedp.Click(chromedp.CSS("#save")))
	a.waitFor("tab A's save", `!!document.querySelector("#item-details")`)
	if got, _ := api.get(it.ID); got.Description != "changed in tab A after reload" {
		t.Errorf("description after the second save = %q", got.Description)
	}
}

func TestDeleteItem(t *testing.T) {
	api := newAPIClient(t)
	it := api.create(unique("e2e-delete"))
	u := newUser(t)
	u.signIn()
	u.open("/items/" + it.ID)
	u.do("ask to delete", chromedp.Click(chromedp.CSS("#delete")), chromedp.WaitVisible(chromedp.CSS("#confirm-delete")))
	if focused := eval[string](u, `document.activeElement.textContent`); focused != "Cancel" {
		t.Errorf("the dialog focuses %q, want the safe choice, Cancel", focused)
	}
	u.shot("delete-confirm")
	u.do("confirm", chromedp.Click(chromedp.CSS("#confirm-delete-yes")))
	u.waitFor("the inventory", `location.pathname === "/" && !!document.querySelector("table.items")`)
	if _, code := api.get(it.ID); code != http.StatusNotFound {
		t.Errorf("GET the deleted item = %d, want 404", code)
	}
}

func TestLiveUpdateAcrossBrowserContexts(t *testing.T) {
	requireStack(t)
	watcher := newUser(t) // signed out: a reader in another browser
	writer := newUser(t)
	writer.signIn()
	name := unique("e2e-live")

	watcher.open("/?q=" + name)
	watcher.waitFor("the live connection", `document.querySelector("#live").dataset.state === "live"`)
	if got := watcher.text("#live-text"); got != "Live" {
		t.Errorf("indicator says %q, want Live", got)
	}
	watcher.waitFor("the empty result", `document.querySelectorAll("tbody tr").length === 0`)

	writer.open("/items/new")
	writer.do("create in the other browser",
		fill("#f-name", name), fill("#f-image", "nginx:1.27"), chromedp.Click(chromedp.CSS("#save")))
	writer.waitFor("the item page", `!!document.querySelector("#item-details")`)
	id := eval[string](writer, `location.pathname.split("/").pop()`)
	api := newAPIClient(t)
	t.Cleanup(func() { api.call("DELETE", "/api/inventory/"+id, nil, nil) })

	// No reload in the watcher's browser: the row arrives by the event stream.
	watcher.waitFor("the new row", fmt.Sprintf(`!!document.querySelector('tr[data-id=%q]')`, id))
	watcher.shot("live-update")

	// An open item page follows a change made elsewhere too.
	watcher.open("/items/" + id)
	watcher.waitFor("the live connection", `document.querySelector("#live").dataset.state === "live"`)
	writer.open("/items/" + id + "/edit")
	writer.do("change", fill("#f-description", "edited live"), chromedp.Click(chromedp.CSS("#save")))
	watcher.waitFor("the changed description", `document.querySelector('[data-field="description"]')?.textContent === "edited live"`)
}

func TestSignInAndOut(t *testing.T) {
	u := newUser(t)
	u.open("/")
	writeVisible := `!!document.querySelector("#new-item") && document.querySelector("#new-item").offsetParent !== null`
	if eval[bool](u, writeVisible) {
		t.Error("signed out, the New item control is visible")
	}
	u.do("go to sign in", chromedp.Click(chromedp.CSS("#signin-link")), chromedp.WaitVisible(chromedp.CSS("#password")))
	u.do("wrong password", fill("#password", "not-the-password"), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error")))
	if msg := u.text("#signin-error"); msg != "Wrong username or password." {
		t.Errorf("error = %q", msg)
	}
	u.shot("signin-error")

	u.do("right password", fill("#password", stack.password), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signout")))
	u.waitFor("the inventory with write controls", writeVisible)
	if got := u.text(".user strong"); got != "admin" {
		t.Errorf("signed in as %q, want admin", got)
	}
	u.shot("signed-in")

	// The session survives a reload (cookie), then sign out ends it.
	u.open("/")
	u.waitFor("write controls after reload", writeVisible)
	u.do("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-link")))
	if eval[bool](u, writeVisible) {
		t.Error("after signing out, the New item control is visible")
	}
	u.open("/")
	if eval[bool](u, writeVisible) {
		t.Error("after signing out and reloading, the New item control is visible")
	}
}

func TestStatusPage(t *testing.T) {
	u := newUser(t)
	u.open("/status")
	u.waitFor("the status", `!!document.querySelector("#instance code")`)
	if got := u.text("#instance"); got == "" || got == "—" {
		t.Errorf("answering instance shown as %q", got)
	}
	deps := eval[[]string](u, `[...document.querySelectorAll("[data-dependency]")].map(r => r.dataset.dependency + ":" + r.querySelector(".state").textContent)`)
	for _, want := range []string{"postgres:up", "redis:up"} {
		if !strings.Contains(strings.Join(deps, " "), want) {
			t.Errorf("dependencies %v lack %s", deps, want)
		}
	}
	if n := eval[int](u, `document.querySelectorAll("#status section:last-child tbody tr").length`); n < 1 {
		t.Errorf("%d live replicas shown, want at least the one that answered", n)
	}
	u.shot("status")
}

// At 360 px wide nothing scrolls sideways; every control has a label; the
// keyboard reaches the controls in order with a visible focus ring.
func TestNarrowScreenAndKeyboard(t *testing.T) {
	api := newAPIClient(t)
	api.create(unique("e2e-narrow"))
	u := newUser(t)
	u.signIn()
	u.do("narrow viewport", chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	for _, path := range []string{"/", "/items/new", "/status", "/signin"} {
		u.open(path)
		if w := eval[int](u, `document.documentElement.scrollWidth`); w > 360 {
			t.Errorf("%s is %d px wide at a 360 px viewport", path, w)
		}
		unlabelled := eval[[]string](u, `[...document.querySelectorAll("input, textarea, select, button")]
			.filter(el => el.offsetParent !== null && !(el.labels?.length || el.getAttribute("aria-label") || el.textContent.trim()))
			.map(el => el.outerHTML.slice(0, 80))`)
		if len(unlabelled) > 0 {
			t.Errorf("%s has controls without a label: %v", path, unlabelled)
		}
	}
	u.open("/")
	u.shot("inventory-360px")
	u.do("tab to the skip link", chromedp.KeyEvent("\t"))
	if got := eval[string](u, `document.activeElement.className`); got != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", got)
	}
	u.do("tab on", chromedp.KeyEvent("\t"))
	outline := eval[string](u, `getComputedStyle(document.activeElement).outlineStyle`)
	if outline == "none" || outline == "" {
		t.Errorf("the focused element has outline %q: focus is invisible", outline)
	}
	u.do("desktop viewport", chromedp.EmulateViewport(1280, 900))
}

// The first view of the inventory, as a new visitor's browser loads it
// (document, styles, modules, icon, API calls), weighs at most 100 KB on the
// wire.
func TestFirstViewTransferSize(t *testing.T) {
	u := newUser(t)
	var mu sync.Mutex
	sizes := map[network.RequestID]float64{}
	urls := map[network.RequestID]string{}
	if err := chromedp.Listen(u.ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			urls[e.RequestID] = e.Request.URL
		case *network.EventLoadingFinished:
			sizes[e.RequestID] = e.EncodedDataLength
		}
	}); err != nil {
		t.Fatal(err)
	}
	u.open("/")
	u.waitFor("the inventory", `!!document.querySelector("#summary")?.textContent`)
	mu.Lock()
	defer mu.Unlock()
	total := 0.0
	for id, n := range sizes {
		total += n
		t.Logf("%8.0f %s", n, urls[id])
	}
	t.Logf("first view: %d requests, %.0f bytes transferred", len(sizes), total)
	if total > 100_000 {
		t.Errorf("first view transferred %.0f bytes, budget 100000", total)
	}
	if len(sizes) < 5 {
		t.Errorf("only %d requests finished: the page did not load", len(sizes))
	}
}

// The label filter and the pagination, with this run's own label so other
// data does not matter; the first page is the README's screenshot.
func TestInventoryFilterAndPagination(t *testing.T) {
	api := newAPIClient(t)
	label := unique("run")
	images := []struct{ name, image, desc string }{
		{"postgres", "postgres:17-alpine", "primary database"},
		{"redis", "redis:7-bookworm", "cache, sessions, rate limits"},
		{"nginx", "nginx:1.27-alpine", "static files"},
		{"traefik", "traefik:v3.2", "edge router"},
	}
	for i := range 22 {
		im := images[i%len(images)]
		body := map[string]any{"name": fmt.Sprintf("%s-%s-%02d", im.name, label, i), "image": im.image,
			"description": im.desc, "labels": []string{label, im.name}}
		var it item
		if code := api.call("POST", "/api/inventory", body, &it); code != http.StatusCreated && code != http.StatusOK {
			t.Fatalf("create = %d", code)
		}
		t.Cleanup(func() { api.call("DELETE", "/api/inventory/"+it.ID, nil, nil) })
	}
	u := newUser(t)
	u.signIn()
	u.open("/?label=" + label)
	rows := `document.querySelectorAll("tbody tr").length`
	u.waitFor("the first page", rows+` === 20 && !document.querySelector("#next").disabled && document.querySelector("#prev").disabled`)
	u.shot("inventory")
	u.do("next page", chromedp.Click(chromedp.CSS("#next")))
	u.waitFor("the second page", rows+` === 2 && document.querySelector("#next").disabled`)
	u.do("previous page", chromedp.Click(chromedp.CSS("#prev")))
	u.waitFor("the first page again", rows+` === 20`)

	// Clicking a label chip filters by it: only this run's redis items remain.
	u.do("filter by a label", chromedp.Click(chromedp.CSS(`button.chip[aria-label="Filter by label redis"]`)))
	u.waitFor("the filtered list", `location.search === "?label=redis" && document.querySelector("main").getAttribute("aria-busy") !== "true"`)
	labels := eval[[]string](u, `[...document.querySelectorAll("tbody tr")].map(tr => [...tr.querySelectorAll(".chip")].map(c => c.textContent).join(","))`)
	if len(labels) < 5 {
		t.Errorf("label filter redis shows %d items, want at least this run's 5", len(labels))
	}
	for _, l := range labels {
		if !strings.Contains(","+l+",", ",redis,") {
			t.Errorf("label filter redis shows an item labelled %q", l)
		}
	}
}
