package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestSwaggerUIIsServedFromEmbeddedAssets(t *testing.T) {
	e := newEnv(t)
	w := e.do(t, req{method: "GET", path: "/docs"})
	wantStatus(t, w, http.StatusOK)
	page := w.Body.String()
	if strings.Contains(page, "//") && (strings.Contains(page, "http://") || strings.Contains(page, "https://")) {
		t.Errorf("/docs refers to another host:\n%s", page)
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<style") {
		t.Errorf("/docs has inline script or style, which the CSP forbids:\n%s", page)
	}
	csp := w.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") {
		t.Errorf("/docs CSP = %q: want scripts from self only", csp)
	}
	for _, asset := range []string{"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/init.js", "/docs/favicon-32x32.png"} {
		if !strings.Contains(page, asset) && asset != "/docs/favicon-32x32.png" {
			t.Errorf("/docs does not load %s", asset)
		}
		w := e.do(t, req{method: "GET", path: asset})
		wantStatus(t, w, http.StatusOK)
		if w.Body.Len() == 0 {
			t.Errorf("%s is empty", asset)
		}
	}
	for _, bad := range []string{"/docs/../openapi.json", "/docs/swagger-ui.js.map", "/docs/index.html", "/docs/nope"} {
		if w := e.do(t, req{method: "GET", path: bad}); w.Code == http.StatusOK {
			t.Errorf("GET %s = 200, want an error", bad)
		}
	}
}
