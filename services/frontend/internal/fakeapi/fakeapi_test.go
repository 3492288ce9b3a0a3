package fakeapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/docker-examples/stack/services/frontend/internal/fakeapi"
)

// docPath is the API's own OpenAPI document, read from the API's source
// tree (the test runs in this package's directory): the fake answers to
// the document the API is tested against, not to a copy of it.
const docPath = "../../../api/internal/httpapi/openapi.json"

// uiOperations are the operations the UI's api.js and live.js call. The
// contract test must exercise each of them.
var uiOperations = []string{"session", "login", "logout", "status", "events",
	"listItems", "createItem", "getItem", "replaceItem", "deleteItem"}

// TestContract drives the fake through the requests the UI makes, with the
// headers and bodies api.js sends, and validates every request and every
// response against the API's OpenAPI document. It also checks what the
// document states in words: newest first, search by name, ETags and
// If-Match, the session cookie and its CSRF token, the event stream.
func TestContract(t *testing.T) {
	srv := httptest.NewServer(fakeapi.New("admin", "s3cret"))
	t.Cleanup(srv.Close)
	c := newContract(t, srv.URL)

	// Signed out: the UI asks for the session, shows the inventory and the
	// status page; a write is refused.
	c.do(step{name: "session, signed out", method: "GET", path: "/api/auth/session", want: 200,
		check: func(t *testing.T, r *result) {
			if s := decode[sessionState](t, r); s.Authenticated || s.CSRFToken != "" {
				t.Errorf("got %+v, want authenticated false and no token", s)
			}
		}})
	c.do(step{name: "status page", method: "GET", path: "/api/status", want: 200})
	c.do(step{name: "empty inventory", method: "GET", path: "/api/inventory?limit=20", want: 200,
		check: wantNames()})
	c.do(step{name: "create, signed out", method: "POST", path: "/api/inventory", noCredentials: true,
		body: map[string]any{"name": "x", "image": "x"}, want: 401})

	// Sign in.
	c.do(step{name: "sign in, wrong password", method: "POST", path: "/api/auth/login",
		body: map[string]any{"username": "admin", "password": "wrong"}, want: 401})
	login := c.do(step{name: "sign in", method: "POST", path: "/api/auth/login",
		body: map[string]any{"username": "admin", "password": "s3cret"}, want: 200,
		check: func(t *testing.T, r *result) {
			if c.sessionCookie() == nil {
				t.Errorf("Set-Cookie %q: no %s cookie, the document's sessionCookie", r.header.Values("Set-Cookie"), c.cookieName)
			}
		}})
	c.csrf = decode[sessionState](t, login).CSRFToken
	c.do(step{name: "session, signed in", method: "GET", path: "/api/auth/session", want: 200,
		check: func(t *testing.T, r *result) {
			s := decode[sessionState](t, r)
			if !s.Authenticated || s.Username != "admin" || s.CSRFToken != c.csrf {
				t.Errorf("got %+v, want authenticated as admin with the login's CSRF token %q", s, c.csrf)
			}
		}})
	c.do(step{name: "create without X-CSRF-Token", method: "POST", path: "/api/inventory", noCredentials: true,
		header: map[string]string{"X-CSRF-Token": ""}, body: map[string]any{"name": "x", "image": "x"}, want: 403})

	// Create, as the form sends it: every member, lists possibly empty.
	example := c.doc.Components.Schemas["Item"].Value.Properties
	image, normalized := example["image"].Value.Examples[0].(string), example["image_normalized"].Value.Examples[0].(string)
	pgIn := map[string]any{"name": "postgres", "image": image, "description": "primary database",
		"labels": []string{"db", "Critical"}, "source_url": "https://github.com/docker-library/postgres",
		"docs_urls": []string{"https://hub.docker.com/_/postgres"}}
	pg := decode[item](t, c.do(step{name: "create", method: "POST", path: "/api/inventory", body: pgIn, want: 201,
		check: func(t *testing.T, r *result) {
			it := decode[item](t, r)
			if got, want := r.header.Get("Location"), "/api/inventory/"+it.ID; got != want {
				t.Errorf("Location = %q, want %q", got, want)
			}
			wantETag(t, r, it)
			if it.Version != 1 || it.ImageNormalized != normalized || !slices.Equal(it.Labels, []string{"db", "Critical"}) ||
				it.SourceURL != pgIn["source_url"] || !it.CreatedAt.Equal(it.UpdatedAt) {
				t.Errorf("created %+v, want version 1, the input, image_normalized %q (the document's example)", it, normalized)
			}
		}}))
	c.do(step{name: "create, any http(s) source URL", method: "POST", path: "/api/inventory",
		body: map[string]any{"name": "redis", "image": "redis:7-bookworm", "description": "", "labels": []string{"cache", "cache"},
			"source_url": "https://gitlab.com/example/redis", "docs_urls": []string{}}, want: 201,
		check: func(t *testing.T, r *result) {
			if it := decode[item](t, r); !slices.Equal(it.Labels, []string{"cache"}) {
				t.Errorf("labels = %q, want the duplicate dropped", it.Labels)
			}
		}})
	c.do(step{name: "create, duplicate name", method: "POST", path: "/api/inventory",
		body: map[string]any{"name": "postgres", "image": "postgres:18"}, want: 409})
	c.do(step{name: "create, blank form", method: "POST", path: "/api/inventory", invalid: true,
		body: map[string]any{"name": "", "image": "", "description": "", "labels": []string{}, "source_url": "", "docs_urls": []string{}},
		want: 422, check: wantFields("name", "image")})
	c.do(step{name: "create, invalid values", method: "POST", path: "/api/inventory",
		body: map[string]any{"name": "nginx", "image": "Not A Valid Image!!", "labels": []string{"web", " "},
			"source_url": "ftp://example.com/nginx", "docs_urls": []string{"nginx.org/en/docs"}},
		want: 422, check: wantFields("image", "labels[1]", "source_url", "docs_urls[0]")})
	c.do(step{name: "create, unknown member", method: "POST", path: "/api/inventory", invalid: true,
		body: map[string]any{"name": "nginx", "image": "nginx", "version": 3}, want: 422, check: wantFields("version")})
	c.do(step{name: "create, wrong type", method: "POST", path: "/api/inventory", invalid: true,
		body: `{"name":"nginx","image":"nginx","labels":"web"}`, want: 422, check: wantFields("labels")})
	c.do(step{name: "create, not JSON", method: "POST", path: "/api/inventory", invalid: true,
		body: `{"name":`, want: 400})
	c.do(step{name: "create, not application/json", method: "POST", path: "/api/inventory", invalid: true,
		header: map[string]string{"Content-Type": "text/plain"}, body: map[string]any{"name": "nginx", "image": "nginx"}, want: 415})

	// The inventory view: pages of 20, search, label filter, cursors.
	c.do(step{name: "inventory", method: "GET", path: "/api/inventory?limit=20", want: 200,
		check: wantNames("redis", "postgres")})
	first := decode[itemList](t, c.do(step{name: "first page", method: "GET", path: "/api/inventory?limit=1", want: 200,
		check: wantNames("redis")}))
	if first.NextCursor == "" {
		t.Fatal("first page of 1: no next_cursor")
	}
	c.do(step{name: "next page", method: "GET", path: "/api/inventory?limit=1&cursor=" + url.QueryEscape(first.NextCursor), want: 200,
		check: wantNames("postgres")})
	c.do(step{name: "search", method: "GET", path: "/api/inventory?limit=20&q=POST", want: 200, check: wantNames("postgres")})
	c.do(step{name: "search matches the name only", method: "GET", path: "/api/inventory?limit=20&q=bookworm", want: 200,
		check: wantNames()})
	c.do(step{name: "label filter", method: "GET", path: "/api/inventory?limit=20&label=Critical", want: 200,
		check: wantNames("postgres")})
	c.do(step{name: "search and label", method: "GET", path: "/api/inventory?limit=20&q=red&label=db", want: 200,
		check: wantNames()})
	c.do(step{name: "limit out of range", method: "GET", path: "/api/inventory?limit=500", invalid: true,
		want: 422, check: wantFields("limit")})
	c.do(step{name: "foreign cursor", method: "GET", path: "/api/inventory?limit=20&cursor=20", want: 422,
		check: wantFields("cursor")})

	// The item page and the edit form: read with its ETag, save with
	// If-Match.
	pgPath := "/api/inventory/" + pg.ID
	etag1 := c.do(step{name: "item page", method: "GET", path: pgPath, want: 200,
		check: func(t *testing.T, r *result) { wantETag(t, r, decode[item](t, r)) }}).header.Get("ETag")
	c.do(step{name: "missing item", method: "GET", path: "/api/inventory/0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a", want: 404})
	c.do(step{name: "malformed id", method: "GET", path: "/api/inventory/not-a-uuid", invalid: true,
		want: 422, check: wantFields("id")})
	pgIn["description"] = "primary database, version 17"
	etag2 := c.do(step{name: "save", method: "PUT", path: pgPath, ifMatch: etag1, body: pgIn, want: 200,
		check: func(t *testing.T, r *result) {
			it := decode[item](t, r)
			wantETag(t, r, it)
			if it.Version != 2 || it.Description != pgIn["description"] || !it.CreatedAt.Equal(pg.CreatedAt) || !it.UpdatedAt.After(pg.UpdatedAt) {
				t.Errorf("saved %+v, want version 2, the new description, created_at kept, updated_at later", it)
			}
		}}).header.Get("ETag")
	c.do(step{name: "save, stale If-Match", method: "PUT", path: pgPath, ifMatch: etag1, body: pgIn, want: 412})
	c.do(step{name: "save, weak If-Match", method: "PUT", path: pgPath, ifMatch: "W/" + etag2, body: pgIn, want: 412})
	c.do(step{name: "save, invalid image", method: "PUT", path: pgPath, ifMatch: etag2,
		body: map[string]any{"name": "postgres", "image": "postgres:"}, want: 422, check: wantFields("image")})
	c.do(step{name: "save, another item's name", method: "PUT", path: pgPath, ifMatch: etag2,
		body: map[string]any{"name": "redis", "image": "redis"}, want: 409})
	c.do(step{name: "save, missing item", method: "PUT", path: "/api/inventory/0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a", ifMatch: etag2,
		body: pgIn, want: 404})

	// Live updates: the stream starts with an id-only message, then
	// carries each change; Last-Event-ID resumes after an event.
	etag3 := c.events(pgPath, etag2)

	// Delete from the item page.
	c.do(step{name: "delete, stale If-Match", method: "DELETE", path: pgPath, ifMatch: etag1, want: 412})
	c.do(step{name: "delete", method: "DELETE", path: pgPath, ifMatch: etag3, want: 204})
	c.do(step{name: "delete, already gone", method: "DELETE", path: pgPath, ifMatch: etag3, want: 404})
	c.do(step{name: "deleted item", method: "GET", path: pgPath, want: 404})

	// Sign out; the session has ended.
	c.do(step{name: "sign out", method: "POST", path: "/api/auth/logout", want: 204,
		check: func(t *testing.T, r *result) {
			if c.sessionCookie() != nil {
				t.Errorf("Set-Cookie %q: the session cookie is still set", r.header.Values("Set-Cookie"))
			}
		}})
	c.do(step{name: "session, signed out again", method: "GET", path: "/api/auth/session", want: 200,
		check: func(t *testing.T, r *result) {
			if decode[sessionState](t, r).Authenticated {
				t.Error("still authenticated after sign out")
			}
		}})
	c.csrf = "" // api.js forgets the token at sign out
	c.do(step{name: "sign out without a session", method: "POST", path: "/api/auth/logout", want: 204})
	c.do(step{name: "create after sign out", method: "POST", path: "/api/inventory", noCredentials: true,
		body: map[string]any{"name": "x", "image": "x"}, want: 401})

	for _, op := range uiOperations {
		if c.seen[op] == nil {
			t.Errorf("%s: the UI calls it, the script does not", op)
		}
	}
	for _, code := range []int{200, 201, 204, 400, 401, 403, 404, 409, 412, 415, 422} {
		if !slices.ContainsFunc(uiOperations, func(op string) bool { return c.seen[op][code] }) {
			t.Errorf("no response was %d: the script lost coverage", code)
		}
	}
}

// contract sends requests to the fake as the UI does and checks them and
// their answers against the document.
type contract struct {
	t          *testing.T
	doc        *openapi3.T
	router     routers.Router
	base       *url.URL
	jar        http.CookieJar
	cookieName string // the document's session cookie
	csrf       string // sent as X-CSRF-Token on every write, as api.js does
	opts       *openapi3filter.Options
	seen       map[string]map[int]bool // operationId -> statuses answered
}

func newContract(t *testing.T, base string) *contract {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(docPath)
	if err != nil {
		t.Fatalf("load the API's document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", docPath, err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	// The stream's schema is a string; read its body as one.
	openapi3filter.RegisterBodyDecoder("text/event-stream", openapi3filter.FileBodyDecoder)
	u, _ := url.Parse(base)
	jar, _ := cookiejar.New(nil)
	c := &contract{t: t, doc: doc, router: router, base: u, jar: jar, seen: map[string]map[int]bool{},
		cookieName: doc.Components.SecuritySchemes["sessionCookie"].Value.Name,
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true,
			AuthenticationFunc:    authenticate,
			// kin-openapi checks only the formats it is given.
			SchemaValidationOptions: []openapi3.SchemaValidationOption{
				openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562)),
				openapi3.WithStringFormatValidator("uri", openapi3.NewCallbackValidator(func(s string) error {
					if u, err := url.Parse(s); err != nil || !u.IsAbs() {
						return fmt.Errorf("%q is not an absolute URI", s)
					}
					return nil
				})),
			},
		}}
	// Name the field and the rule, without dumping the schema and value.
	c.opts.WithCustomSchemaErrorFunc(func(e *openapi3.SchemaError) string {
		return fmt.Sprintf("field %q: %s", "/"+strings.Join(e.JSONPointer(), "/"), e.Reason)
	})
	return c
}

// authenticate checks that a request carries the credentials a security
// scheme names, in the place it names: a header or a cookie.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s, r := in.SecurityScheme, in.RequestValidationInput.Request
	switch {
	case s.In == "header" && r.Header.Get(s.Name) != "":
		return nil
	case s.In == "cookie":
		if _, err := r.Cookie(s.Name); err == nil {
			return nil
		}
	}
	return in.NewError(fmt.Errorf("no %s %q", s.In, s.Name))
}

// step is one request of the script.
type step struct {
	name         string // what the UI is doing
	method, path string
	ifMatch      string
	header       map[string]string // set after the UI's headers; "" removes one
	body         any               // encoded as JSON; a string is sent as is
	want         int
	// invalid marks a request that breaks the document on purpose: it must
	// fail request validation, and its answer must still match.
	invalid bool
	// noCredentials marks a write made without a session or its CSRF
	// token on purpose: it must fail only the security requirement.
	noCredentials bool
	check         func(*testing.T, *result)
}

type result struct {
	status int
	header http.Header
	body   []byte
}

// request builds s's request as api.js does: Accept, a JSON body, the CSRF
// token on every non-GET, If-Match, and the cookies of the jar.
func (c *contract) request(ctx context.Context, s step) (*http.Request, []byte) {
	c.t.Helper()
	var body []byte
	switch b := s.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			c.t.Fatal(err)
		}
	}
	r, err := http.NewRequestWithContext(ctx, s.method, c.base.String()+s.path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	r.Header.Set("Accept", "application/json")
	if s.body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if s.method != "GET" && c.csrf != "" {
		r.Header.Set("X-CSRF-Token", c.csrf)
	}
	if s.ifMatch != "" {
		r.Header.Set("If-Match", s.ifMatch)
	}
	for k, v := range s.header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	for _, ck := range c.jar.Cookies(r.URL) {
		r.AddCookie(ck)
	}
	return r, body
}

// validateRequest finds r's operation and validates r against it as s
// expects. The returned input serves to validate the response.
func (c *contract) validateRequest(s step, r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, string) {
	c.t.Helper()
	route, params, err := c.router.FindRoute(r)
	if err != nil {
		c.t.Fatalf("%s (%s %s): not in the document: %v", s.name, s.method, s.path, err)
	}
	op := route.Operation.OperationID
	vr := r.Clone(r.Context())
	vr.Body = io.NopCloser(bytes.NewReader(body))
	vr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	in := &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route, Options: c.opts}
	err = openapi3filter.ValidateRequest(r.Context(), in)
	var secErr *openapi3filter.SecurityRequirementsError
	switch {
	case s.noCredentials && !errors.As(err, &secErr):
		c.t.Errorf("%s (%s): the request should lack credentials and otherwise match the document; validation: %v", op, s.name, err)
	case s.invalid && err == nil:
		c.t.Errorf("%s (%s): the request should break the document but matches it", op, s.name)
	case !s.invalid && !s.noCredentials && err != nil:
		c.t.Errorf("%s (%s): the request does not match the document: %v", op, s.name, err)
	}
	return in, op
}

// do sends s to the fake and checks the answer: status, document, the
// correlation id, the fields of a validation problem, then s.check.
func (c *contract) do(s step) *result {
	c.t.Helper()
	r, body := c.request(context.Background(), s)
	in, op := c.validateRequest(s, r, body)

	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		c.t.Fatalf("%s (%s): %v", op, s.name, err)
	}
	defer resp.Body.Close()
	res := &result{status: resp.StatusCode, header: resp.Header}
	if res.body, err = io.ReadAll(resp.Body); err != nil {
		c.t.Fatalf("%s (%s): reading the body: %v", op, s.name, err)
	}
	c.jar.SetCookies(r.URL, resp.Cookies())
	c.checkResponse(s, op, in, body, res)
	return res
}

// checkResponse validates an answer against the document and s.
func (c *contract) checkResponse(s step, op string, in *openapi3filter.RequestValidationInput, reqBody []byte, res *result) {
	c.t.Helper()
	if c.seen[op] == nil {
		c.seen[op] = map[int]bool{}
	}
	c.seen[op][res.status] = true
	if res.status != s.want {
		c.t.Errorf("%s (%s): status %d, want %d\n%.400s", op, s.name, res.status, s.want, res.body)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.status,
		Header: res.header, Body: io.NopCloser(bytes.NewReader(res.body)), Options: c.opts}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.t.Errorf("%s (%s) -> %d: the response does not match the document: %v\n%.400s", op, s.name, res.status, err, res.body)
	}
	// "Every response carries X-Correlation-ID" (info.description).
	if res.header.Get("X-Correlation-ID") == "" {
		c.t.Errorf("%s (%s) -> %d: no X-Correlation-ID", op, s.name, res.status)
	}
	if res.status == http.StatusUnprocessableEntity {
		c.checkProblemFields(s, op, in.Route, reqBody, res)
	}
	if s.check != nil {
		c.t.Run(s.name, func(t *testing.T) { s.check(t, res) })
	}
}

// checkProblemFields checks that each errors[].field of a validation
// problem names a member of the request body or a parameter (the form puts
// "labels[2]" next to its Labels input by that name), or a member the
// request sent that the document does not have.
func (c *contract) checkProblemFields(s step, op string, route *routers.Route, reqBody []byte, res *result) {
	c.t.Helper()
	known := map[string]bool{}
	var sent map[string]any
	_ = json.Unmarshal(reqBody, &sent)
	for name := range sent {
		known[name] = true
	}
	for _, p := range slices.Concat(route.PathItem.Parameters, route.Operation.Parameters) {
		known[p.Value.Name] = true
	}
	if rb := route.Operation.RequestBody; rb != nil {
		for _, mt := range rb.Value.Content {
			for name := range mt.Schema.Value.Properties {
				known[name] = true
			}
		}
	}
	var p problem
	_ = json.Unmarshal(res.body, &p)
	if len(p.Errors) == 0 {
		c.t.Errorf("%s (%s) -> 422: no errors[]: the form cannot show the problem next to a field", op, s.name)
	}
	for _, fe := range p.Errors {
		if base, _, _ := strings.Cut(strings.Split(fe.Field, "[")[0], "."); !known[base] {
			c.t.Errorf("%s (%s) -> 422: errors[].field %q is no member of the request body nor a parameter", op, s.name, fe.Field)
		}
	}
}

// events checks GET /api/events as live.js uses it: an EventSource that
// sees each change, and resumes after the last event it saw. It changes
// the item at itemPath, whose ETag is etag, and returns the new ETag.
func (c *contract) events(itemPath, etag string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := step{name: "live updates", method: "GET", path: "/api/events", want: 200,
		header: map[string]string{"Accept": "text/event-stream", "Cache-Control": "no-cache"}}
	stream := c.open(ctx, s)
	start := stream.next("an id-only message first")
	if start.id == "" || start.event != "" || start.data != "" {
		c.t.Fatalf("events (%s): first message %+v, want an id-only message: \"A stream opened without Last-Event-ID first sends an id-only message\"", s.name, start)
	}

	body := map[string]any{"name": "postgres", "image": "postgres:17-alpine", "description": "changed live"}
	saved := c.do(step{name: "save, seen live", method: "PUT", path: itemPath, ifMatch: etag, body: body, want: 200})
	changed := stream.next("the item.updated event of the save")
	c.checkEvent(s.name, changed, "item.updated", itemPath)

	// The browser reconnects with the id of the last event it saw.
	s.name, s.header["Last-Event-ID"] = "live updates, resumed", start.id
	resumed := c.open(ctx, s).next("the item.updated event after Last-Event-ID")
	c.checkEvent(s.name, resumed, "item.updated", itemPath)
	if resumed.id != changed.id {
		c.t.Errorf("events (%s): resumed at %q, want %q, the event after Last-Event-ID", s.name, resumed.id, changed.id)
	}
	return saved.header.Get("ETag")
}

// checkEvent checks an event's type and its data: {"id", "item" (absent
// on delete), "instance_id"}, the item as the document's Item.
func (c *contract) checkEvent(name string, m message, typ, itemPath string) {
	c.t.Helper()
	var data map[string]any
	if err := json.Unmarshal([]byte(m.data), &data); err != nil || m.event != typ {
		c.t.Fatalf("events (%s): got %+v, want a %s event with JSON data", name, m, typ)
	}
	if !regexp.MustCompile(`^[0-9]+-[0-9]+$`).MatchString(m.id) {
		c.t.Errorf("events (%s): id %q is not a stream id <ms>-<seq>", name, m.id)
	}
	if id, _ := data["id"].(string); "/api/inventory/"+id != itemPath || data["instance_id"] == nil {
		c.t.Errorf("events (%s): data %s, want the item's id and an instance_id", name, m.data)
	}
	opts := append(slices.Clone(c.opts.SchemaValidationOptions), openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse())
	if err := c.doc.Components.Schemas["Item"].Value.VisitJSON(data["item"], opts...); err != nil {
		c.t.Errorf("events (%s): data.item does not match the document's Item: %v", name, err)
	}
}

// eventStream reads the messages of an open event stream.
type eventStream struct {
	t    *testing.T
	name string
	r    *bufio.Reader
}

type message struct{ id, event, data string }

// open starts an event stream and validates its request and response
// head; the body so far is what the response validation reads.
func (c *contract) open(ctx context.Context, s step) *eventStream {
	c.t.Helper()
	r, body := c.request(ctx, s)
	in, op := c.validateRequest(s, r, body)
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		c.t.Fatalf("%s (%s): %v", op, s.name, err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	c.checkResponse(s, op, in, body, &result{status: resp.StatusCode, header: resp.Header})
	if resp.StatusCode != http.StatusOK {
		c.t.FailNow()
	}
	return &eventStream{t: c.t, name: s.name, r: bufio.NewReader(resp.Body)}
}

// next returns the next message that has an id, an event or data, skipping
// comments and retry hints; want says what is expected, for the failure.
func (e *eventStream) next(want string) message {
	e.t.Helper()
	var m message
	for {
		line, err := e.r.ReadString('\n')
		if err != nil {
			e.t.Fatalf("events (%s): want %s, but the stream ended: %v", e.name, want, err)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if m != (message{}) {
				return m
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			m.id = value
		case "event":
			m.event = value
		case "data":
			m.data += value
		}
	}
}

type item struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	ImageNormalized string    `json:"image_normalized"`
	Description     string    `json:"description"`
	Labels          []string  `json:"labels"`
	SourceURL       string    `json:"source_url"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Version         int       `json:"version"`
}

type itemList struct {
	Items      []item `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type sessionState struct {
	Authenticated bool   `json:"authenticated"`
	Username      string `json:"username"`
	CSRFToken     string `json:"csrf_token"`
}

type problem struct {
	Errors []struct{ Field, Message string } `json:"errors"`
}

func decode[T any](t *testing.T, r *result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
	return v
}

// sessionCookie is the jar's session cookie for the fake, or nil.
func (c *contract) sessionCookie() *http.Cookie {
	for _, ck := range c.jar.Cookies(c.base) {
		if ck.Name == c.cookieName {
			return ck
		}
	}
	return nil
}

// wantNames checks a list's item names, in order: newest first.
func wantNames(names ...string) func(*testing.T, *result) {
	return func(t *testing.T, r *result) {
		t.Helper()
		var got []string
		for _, it := range decode[itemList](t, r).Items {
			got = append(got, it.Name)
		}
		if !slices.Equal(got, names) {
			t.Errorf("items %q, want %q (newest first)", got, names)
		}
	}
}

// wantFields checks the errors[].field of a validation problem.
func wantFields(fields ...string) func(*testing.T, *result) {
	return func(t *testing.T, r *result) {
		t.Helper()
		var got []string
		for _, fe := range decode[problem](t, r).Errors {
			got = append(got, fe.Field)
		}
		if !slices.Equal(got, fields) {
			t.Errorf("errors[].field %q, want %q", got, fields)
		}
	}
}

// wantETag checks the ETag of an item response: the strong tag of its
// version, the form api.js's itemETag assumes when the header is missing.
func wantETag(t *testing.T, r *result, it item) {
	t.Helper()
	if got, want := r.header.Get("ETag"), fmt.Sprintf(`"v%d"`, it.Version); got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
}
