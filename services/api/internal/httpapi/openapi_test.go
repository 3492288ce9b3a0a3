package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// loadDoc fetches /openapi.json from the API and validates it.
func loadDoc(t *testing.T, e *env) *openapi3.T {
	t.Helper()
	w := e.do(t, req{method: "GET", path: "/openapi.json"})
	wantStatus(t, w, http.StatusOK)
	doc, err := openapi3.NewLoader().LoadFromData(w.Body.Bytes())
	if err != nil {
		t.Fatalf("load /openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi = %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("/openapi.json is not a valid document: %v", err)
	}
	return doc
}

// TestOpenAPICoversEveryRoute compares the document with echo's route
// table, both ways.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	e := newEnv(t)
	doc := loadDoc(t, e)
	inEcho := map[string]bool{}
	for _, r := range e.h.(*echo.Echo).Routes() {
		p := strings.ReplaceAll(r.Path, ":id", "{id}")
		p = strings.Replace(p, "/*", "/{file}", 1)
		if p == "/docs/" { // the same page as /docs
			continue
		}
		key := r.Method + " " + p
		inEcho[key] = true
		item := doc.Paths.Find(p)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s is served but not in /openapi.json", key)
		}
	}
	for p, item := range doc.Paths.Map() {
		for m := range item.Operations() {
			if !inEcho[m+" "+p] {
				t.Errorf("/openapi.json documents %s %s, which is not served", m, p)
			}
		}
	}
}

// TestOpenAPIMatchesResponses sends real requests through the router and
// validates them and their responses against the document, including
// that every status code answered is documented.
func TestOpenAPIMatchesResponses(t *testing.T) {
	e := newEnv(t)
	doc := loadDoc(t, e)
	e.redis.set(true) // so /ready and /api/status show "degraded" and "down"

	it := e.create(t, pgInput)
	path := "/api/inventory/" + it.ID.String()
	tests := []docCase{
		{req{method: "GET", path: "/health"}, true},
		{req{method: "GET", path: "/ready"}, true},
		{req{method: "GET", path: "/api/status"}, true},
		{req{method: "GET", path: "/api/events"}, true}, // 503: no event stream configured
		{req{method: "POST", path: "/api/auth/login", body: map[string]any{"username": "admin", "password": "x"}}, true},
		{req{method: "POST", path: "/api/auth/logout"}, true},
		{req{method: "GET", path: "/api/auth/session"}, true},
		{req{method: "GET", path: "/docs"}, true},
		{req{method: "GET", path: "/docs/swagger-ui.css"}, true},
		{req{method: "GET", path: "/docs/init.js"}, true},
		{req{method: "GET", path: "/docs/nope.js"}, true},
		{req{method: "GET", path: "/metrics"}, true},
		{req{method: "GET", path: "/openapi.json"}, true},
		{req{method: "POST", path: "/api/inventory", body: map[string]any{"name": "redis", "image": "redis:7.4", "labels": []string{"cache"}, "tag_include": `7\.\d+`}}, true},
		{req{method: "POST", path: "/api/inventory", body: pgInput}, true}, // 409
		{req{method: "POST", path: "/api/inventory", body: `{"name":1}`}, false},
		{req{method: "POST", path: "/api/inventory", body: `{"name":`}, false},
		{req{method: "POST", path: "/api/inventory", body: map[string]any{"name": "x", "image": "x"}, header: map[string]string{"X-API-Key": ""}}, true},
		{req{method: "GET", path: "/api/inventory"}, true},
		{req{method: "GET", path: "/api/inventory?limit=1"}, true},
		{req{method: "GET", path: "/api/inventory?limit=1000"}, false},
		{req{method: "GET", path: "/api/inventory?q=post&label=db&image=postgres"}, true},
		{req{method: "GET", path: "/api/inventory?cursor=AQGToOR8Pn0qmksfLj1MW2o"}, true}, // 400
		{req{method: "GET", path: path}, true},
		{req{method: "GET", path: path, header: map[string]string{"If-None-Match": `"v1"`}}, true},
		{req{method: "GET", path: "/api/inventory/" + uuid.NewString()}, true},
		{req{method: "GET", path: "/api/inventory/not-a-uuid"}, false},
		{req{method: "PATCH", path: path, body: `{"description":"changed","labels":null}`,
			header: map[string]string{"Content-Type": "application/merge-patch+json", "If-Match": `"v1"`}}, true},
		{req{method: "PATCH", path: path, body: `{"tag_exclude":"17\\.4-alpine","tag_include":null}`,
			header: map[string]string{"Content-Type": "application/merge-patch+json"}}, true},
		{req{method: "PATCH", path: path, body: `{"description":"again"}`,
			header: map[string]string{"Content-Type": "application/merge-patch+json", "If-Match": `"v1"`}}, true},
		{req{method: "PUT", path: path, body: map[string]any{"name": "postgres", "image": "postgres:18"}}, true},
		{req{method: "PUT", path: path, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, false},
		{req{method: "DELETE", path: path, header: map[string]string{"If-Match": `"v1"`}}, true},
		{req{method: "DELETE", path: path}, true},
		{req{method: "DELETE", path: path}, true}, // 404
	}
	seen := checkAgainstDoc(t, e, doc, tests)
	for _, code := range []int{200, 201, 204, 304, 400, 401, 404, 409, 412, 415, 422} {
		if !seen[code] {
			t.Errorf("no request answered %d: the test lost coverage", code)
		}
	}
}

// docCase is one request of a document test.
type docCase struct {
	r            req
	validRequest bool // false: the request is wrong on purpose
}

// checkAgainstDoc sends each request through e's router and validates it
// (when meant to be valid) and its response against doc. It returns the
// status codes seen.
func checkAgainstDoc(t *testing.T, e *env, doc *openapi3.T, tests []docCase) map[int]bool {
	t.Helper()
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	seen := map[int]bool{}
	for _, tt := range tests {
		w := e.do(t, tt.r)
		seen[w.Code] = true
		hr := httptest.NewRequest(tt.r.method, "http://example.com"+tt.r.path, bytes.NewReader(requestBody(t, tt.r)))
		hr.Header.Set("Content-Type", "application/json")
		for k, v := range tt.r.header {
			hr.Header.Set(k, v)
		}
		route, params, err := router.FindRoute(hr)
		if err != nil {
			t.Errorf("%s %s: not in the document: %v", tt.r.method, tt.r.path, err)
			continue
		}
		in := &openapi3filter.RequestValidationInput{
			Request: hr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true},
		}
		if tt.validRequest {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: request does not match the document: %v", tt.r.method, tt.r.path, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: w.Code, Header: w.Header(),
			Body: io.NopCloser(bytes.NewReader(w.Body.Bytes())), Options: in.Options,
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s -> %d: response does not match the document: %v\n%.500s", tt.r.method, tt.r.path, w.Code, err, w.Body)
		}
	}
	return seen
}

func requestBody(t *testing.T, r req) []byte {
	switch b := r.body.(type) {
	case nil:
		return nil
	case string:
		return []byte(b)
	default:
		w := httptest.NewRecorder()
		_ = jsonEncode(w, b)
		return w.Body.Bytes()
	}
}
