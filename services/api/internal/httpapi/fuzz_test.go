package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// FuzzCreateItem sends arbitrary bodies to POST /api/inventory: the answer
// is never a 5xx, and whatever is accepted is a valid item.
func FuzzCreateItem(f *testing.F) {
	for _, s := range []string{
		`{"name":"postgres","image":"postgres:17-alpine","labels":["db"],"source_url":"https://github.com/docker-library/postgres","docs_urls":["https://hub.docker.com/_/postgres"]}`,
		`{"name":"x","image":"ghcr.io/org/app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`,
		`{"name":"\u0000","image":"x"}`, `{"name":1}`, `[]`, `{`, `null`, `{"labels":[null]}`,
		`{"name":"a","image":"a","description":"\ud800"}`, `{"name":"a","image":"a"} x`,
	} {
		f.Add(s)
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := e.do(t, req{method: "POST", path: "/api/inventory", body: body})
		if w.Code >= 500 {
			t.Fatalf("POST %q = %d: %s", body, w.Code, w.Body)
		}
		if w.Code != http.StatusCreated {
			if w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("POST %q = %d without problem+json", body, w.Code)
			}
			return
		}
		it := decode[inventory.Item](t, w)
		again, err := it.Input().Normalize()
		if err != nil || again.Name != it.Name || again.ImageNormalized != it.ImageNormalized {
			t.Fatalf("accepted %q as %+v, which does not validate again: %v", body, it, err)
		}
		// Keep the fake store small and names free.
		_, _ = e.store.DeleteItem(context.Background(), it.ID, func(inventory.Item) error { return nil })
	})
}

// FuzzPatchItem sends arbitrary merge patches: never a 5xx, and the item
// stays valid.
func FuzzPatchItem(f *testing.F) {
	for _, s := range []string{
		`{"description":null}`, `{"labels":["a","a"]}`, `{"name":null}`, `{"image":"UPPER"}`,
		`{"docs_urls":["javascript:x"]}`, `"x"`, `{"labels":{"a":1}}`, `{}`, `{"name":"a","name":"b"}`,
	} {
		f.Add(s)
	}
	e := newEnv(f)
	it := e.create(f, pgInput)
	path := "/api/inventory/" + it.ID.String()
	f.Fuzz(func(t *testing.T, patch string) {
		w := e.do(t, req{method: "PATCH", path: path, body: patch,
			header: map[string]string{"Content-Type": "application/merge-patch+json"}})
		if w.Code >= 500 {
			t.Fatalf("PATCH %q = %d: %s", patch, w.Code, w.Body)
		}
		cur, err := e.store.GetItem(context.Background(), it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cur.Input().Normalize(); err != nil {
			t.Fatalf("after PATCH %q the item is invalid: %v", patch, err)
		}
	})
}
