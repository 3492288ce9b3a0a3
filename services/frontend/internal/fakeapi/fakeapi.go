// Package fakeapi is an in-memory stand-in for the API service that
// follows its HTTP contract closely enough to drive the UI in a browser:
// items with UUIDv7 ids, versions and ETags (If-Match, 412), validation
// problems with errors[].field, a session login with a CSRF token,
// Server-Sent Events and the status document. It exists for the frontend's
// tests when no real API runs; it is not a second implementation to keep in
// production.
//
// The contract is the API's OpenAPI document,
// services/api/internal/httpapi/openapi.json; TestContract validates the
// fake's requests and answers against it.
package fakeapi

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Item is an inventory item as the API returns it.
type Item struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Image           string    `json:"image"`
	ImageNormalized string    `json:"image_normalized"`
	Description     string    `json:"description"`
	Labels          []string  `json:"labels"`
	SourceURL       string    `json:"source_url"`
	DocsURLs        []string  `json:"docs_urls"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	Version         int       `json:"version"`
}

// sessionCookie is the API's session cookie over plain http, the
// document's sessionCookie security scheme.
const sessionCookie = "dex_session"

// event is one change; its stream id is "<seq>-0", seq counting from 1.
type event struct {
	seq  int
	typ  string
	data []byte
}

// API is the fake. It is safe for concurrent use.
type API struct {
	username, password string
	started            time.Time

	mu       sync.Mutex
	items    map[string]*Item
	sessions map[string]string // session cookie -> CSRF token
	events   []event
	lastID   int64         // the last id's milliseconds and counter, see newID
	changed  chan struct{} // closed and replaced on every event
	mux      *http.ServeMux
}

// New returns a fake API whose admin account is username/password.
func New(username, password string) *API {
	a := &API{username: username, password: password, started: time.Now(),
		items: map[string]*Item{}, sessions: map[string]string{}, changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/inventory", a.list)
	mux.HandleFunc("POST /api/inventory", a.auth(a.create))
	mux.HandleFunc("GET /api/inventory/{id}", a.get)
	mux.HandleFunc("PUT /api/inventory/{id}", a.auth(a.replace))
	mux.HandleFunc("DELETE /api/inventory/{id}", a.auth(a.remove))
	mux.HandleFunc("POST /api/auth/login", a.login)
	mux.HandleFunc("POST /api/auth/logout", a.logout)
	mux.HandleFunc("GET /api/auth/session", a.session)
	mux.HandleFunc("GET /api/events", a.stream)
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, r, &problemError{http.StatusNotFound, "not-found", "no such route", nil})
	})
	a.mux = mux
	return a
}

// ServeHTTP routes the contract's endpoints. Like the API, it echoes a
// sane X-Correlation-ID or makes one, on every response.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("X-Correlation-ID")
	if !validCorrelationID(id) {
		id = token(16, hex.EncodeToString)
	}
	w.Header().Set("X-Correlation-ID", id)
	a.mux.ServeHTTP(w, r)
}

func validCorrelationID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := range len(id) {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// problemError is an answer other than success, rendered by problem.
type problemError struct {
	status int
	slug   string
	detail string
	errors []fieldError
}

func fieldProblem(field, format string, args ...any) *problemError {
	return &problemError{http.StatusUnprocessableEntity, "validation", "the request is not valid",
		[]fieldError{{field, fmt.Sprintf(format, args...)}}}
}

// titles are the API's problem titles.
var titles = map[string]string{
	"validation":             "Your request is not valid",
	"malformed-json":         "The body is not valid JSON",
	"not-found":              "Not found",
	"conflict":               "Conflict",
	"precondition-failed":    "Precondition failed",
	"unauthorized":           "Authentication required",
	"forbidden":              "Forbidden",
	"payload-too-large":      "Request body too large",
	"unsupported-media-type": "Unsupported media type",
}

// problem writes p as application/problem+json (RFC 9457), leaving out
// empty members as the API does.
func problem(w http.ResponseWriter, r *http.Request, p *problemError) {
	type body struct {
		Type          string       `json:"type"`
		Title         string       `json:"title"`
		Status        int          `json:"status"`
		Detail        string       `json:"detail,omitempty"`
		Instance      string       `json:"instance,omitempty"`
		CorrelationID string       `json:"correlation_id,omitempty"`
		Errors        []fieldError `json:"errors,omitempty"`
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.status)
	_ = json.NewEncoder(w).Encode(body{
		Type: "https://docker-examples.dev/problems/" + p.slug, Title: titles[p.slug], Status: p.status,
		Detail: p.detail, Instance: r.URL.Path, CorrelationID: w.Header().Get("X-Correlation-ID"), Errors: p.errors,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// etag is the API's strong entity tag of an item: its version.
func etag(it *Item) string { return `"v` + strconv.Itoa(it.Version) + `"` }

// token returns n random bytes, encoded.
func token(n int, encode func([]byte) string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return encode(b)
}

// newID returns a UUIDv7 (RFC 9562) as the API makes them: ids grow with
// creation time, so ordering by id is newest first. Within a millisecond
// the 12 bits after the timestamp count up. a.mu must be held.
func (a *API) newID() string {
	t := time.Now().UnixMilli() << 12
	if t <= a.lastID {
		t = a.lastID + 1
	}
	a.lastID = t
	var b [16]byte
	_, _ = rand.Read(b[:])
	binary.BigEndian.PutUint64(b[:8], uint64(t>>12)<<16|0x7000|uint64(t&0xfff))
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// auth requires a live session cookie and, the method being unsafe, its
// CSRF token in X-CSRF-Token.
func (a *API) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		a.mu.Lock()
		token, ok := "", false
		if err == nil {
			token, ok = a.sessions[c.Value]
		}
		a.mu.Unlock()
		switch {
		case !ok:
			problem(w, r, &problemError{http.StatusUnauthorized, "unauthorized",
				"writes need a valid X-API-Key header or a live session: sign in again", nil})
		case r.Header.Get("X-CSRF-Token") != token:
			problem(w, r, &problemError{http.StatusForbidden, "forbidden",
				"a write with a session cookie needs the session's X-CSRF-Token header (from login or GET /api/auth/session)", nil})
		default:
			next(w, r)
		}
	}
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if p := decodeJSON(r, &in); p != nil {
		problem(w, r, p)
		return
	}
	if in.Username != a.username || in.Password != a.password {
		problem(w, r, &problemError{http.StatusUnauthorized, "unauthorized", "wrong username or password", nil})
		return
	}
	sid, csrf := token(32, base64.RawURLEncoding.EncodeToString), token(32, base64.RawURLEncoding.EncodeToString)
	a.mu.Lock()
	if c, err := r.Cookie(sessionCookie); err == nil {
		delete(a.sessions, c.Value) // a login starts a new session
	}
	a.sessions[sid] = csrf
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", MaxAge: 12 * 3600, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"username": a.username, "csrf_token": csrf})
}

// logout ends the session, if any, and clears its cookie: 204 either way.
func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) session(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"authenticated": false}
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		token, ok := a.sessions[c.Value]
		a.mu.Unlock()
		if ok {
			out = map[string]any{"authenticated": true, "username": a.username, "csrf_token": token}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, out)
}

// list answers a page of items, newest first. The cursor is the id of the
// last item of the previous page.
func (a *API) list(w http.ResponseWriter, r *http.Request) {
	var verr validation
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			verr.add("limit", "must be an integer from 1 to 100")
		}
		limit = n
	}
	cursor := q.Get("cursor")
	if cursor != "" && !uuidRe.MatchString(cursor) {
		verr.add("cursor", "is not a cursor this API returned")
	}
	needle, label := strings.TrimSpace(q.Get("q")), strings.TrimSpace(q.Get("label"))
	verr.text("q", needle, 100, false, false)
	verr.text("label", label, maxLabelLen, false, false)
	if p := verr.problem(); p != nil {
		problem(w, r, p)
		return
	}
	needle = strings.ToLower(needle)
	a.mu.Lock()
	var all []Item
	for _, it := range a.items {
		if cursor != "" && it.ID >= strings.ToLower(cursor) {
			continue
		}
		if needle != "" && !strings.Contains(strings.ToLower(it.Name), needle) {
			continue
		}
		if label != "" && !slices.Contains(it.Labels, label) {
			continue
		}
		all = append(all, *it)
	}
	a.mu.Unlock()
	slices.SortFunc(all, func(x, y Item) int { return strings.Compare(y.ID, x.ID) })
	out := map[string]any{"items": all[:min(limit, len(all))]}
	if all == nil {
		out["items"] = []Item{}
	}
	if len(all) > limit {
		out["next_cursor"] = all[limit-1].ID
	}
	writeJSON(w, http.StatusOK, out)
}

// pathID reads the item id of the request's path: a UUID in its
// canonical form, either case.
func pathID(r *http.Request) (string, *problemError) {
	id := r.PathValue("id")
	if !uuidRe.MatchString(id) {
		return "", fieldProblem("id", "must be a UUID such as 0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")
	}
	return strings.ToLower(id), nil
}

// lookup finds the item of the request's path, or says why not. a.mu
// must be held.
func (a *API) lookup(r *http.Request) (*Item, *problemError) {
	id, p := pathID(r)
	if p != nil {
		return nil, p
	}
	it, ok := a.items[id]
	if !ok {
		return nil, &problemError{http.StatusNotFound, "not-found", "no item has this id", nil}
	}
	return it, nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	it, p := a.lookup(r)
	var cp Item
	if p == nil {
		cp = *it
	}
	a.mu.Unlock()
	if p != nil {
		problem(w, r, p)
		return
	}
	tag := etag(&cp)
	w.Header().Set("ETag", tag)
	if matchesETag(r.Header.Get("If-None-Match"), tag, true) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// conflict reports another item named name, regardless of case, as the
// API's unique index on lower(name) does. a.mu must be held.
func (a *API) conflict(name, id string) *problemError {
	for _, it := range a.items {
		if strings.EqualFold(it.Name, name) && it.ID != id {
			return &problemError{http.StatusConflict, "conflict", "an item with this name already exists", nil}
		}
	}
	return nil
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	it, p := decodeItem(r)
	if p != nil {
		problem(w, r, p)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.conflict(it.Name, ""); p != nil {
		problem(w, r, p)
		return
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	it.ID, it.CreatedAt, it.UpdatedAt, it.Version = a.newID(), now, now, 1
	a.items[it.ID] = it
	a.publish("item.created", it.ID, it)
	w.Header().Set("Location", "/api/inventory/"+it.ID)
	w.Header().Set("ETag", etag(it))
	writeJSON(w, http.StatusCreated, it)
}

// precondition checks If-Match against the item's ETag with the strong
// comparison: a weak tag never matches.
func precondition(r *http.Request, it *Item) *problemError {
	if m := r.Header.Get("If-Match"); m == "" || matchesETag(m, etag(it), false) {
		return nil
	}
	return &problemError{http.StatusPreconditionFailed, "precondition-failed",
		"the item has changed since you read it (If-Match does not match its ETag): read it again and retry", nil}
}

// matchesETag reports whether the list of entity tags h names tag; weak
// allows W/ tags (If-None-Match), otherwise they never match (If-Match).
func matchesETag(h, tag string, weak bool) bool {
	for t := range strings.SplitSeq(h, ",") {
		t = strings.TrimSpace(t)
		if weak {
			t = strings.TrimPrefix(t, "W/")
		}
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}

// replace is PUT: the body is validated first, then the item is looked
// up, its If-Match checked and its name kept unique, in the API's order.
func (a *API) replace(w http.ResponseWriter, r *http.Request) {
	if _, p := pathID(r); p != nil {
		problem(w, r, p)
		return
	}
	it, p := decodeItem(r)
	if p != nil {
		problem(w, r, p)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	old, p := a.lookup(r)
	if p == nil {
		p = precondition(r, old)
	}
	if p == nil {
		p = a.conflict(it.Name, old.ID)
	}
	if p != nil {
		problem(w, r, p)
		return
	}
	it.ID, it.CreatedAt, it.Version = old.ID, old.CreatedAt, old.Version+1
	it.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
	if !it.UpdatedAt.After(old.UpdatedAt) {
		it.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
	}
	a.items[it.ID] = it
	a.publish("item.updated", it.ID, it)
	w.Header().Set("ETag", etag(it))
	writeJSON(w, http.StatusOK, it)
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	it, p := a.lookup(r)
	if p == nil {
		p = precondition(r, it)
	}
	if p != nil {
		problem(w, r, p)
		return
	}
	delete(a.items, it.ID)
	a.publish("item.deleted", it.ID, nil)
	w.WriteHeader(http.StatusNoContent)
}

// publish records an event; a.mu must be held.
func (a *API) publish(typ, id string, it *Item) {
	payload := map[string]any{"id": id, "instance_id": "fake-1"}
	if it != nil {
		payload["item"] = it
	}
	data, _ := json.Marshal(payload)
	a.events = append(a.events, event{seq: len(a.events) + 1, typ: typ, data: data})
	close(a.changed)
	a.changed = make(chan struct{})
}

// stream serves Server-Sent Events. With a valid Last-Event-ID it resumes
// after that event; without, it starts with an id-only message that says
// where the client joined, as the API does. Then every new event, and a
// comment heartbeat every 15 s.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	a.mu.Lock()
	next := len(a.events) // index of the first event to send
	a.mu.Unlock()
	if last, ok := parseEventID(r.Header.Get("Last-Event-ID")); ok {
		next = min(last, next)
	} else {
		_, _ = fmt.Fprintf(w, "id: %d-0\n\n", next) // the id of the last event so far
	}
	_ = rc.Flush()
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		a.mu.Lock()
		pending := slices.Clone(a.events[next:])
		next = len(a.events)
		changed := a.changed
		a.mu.Unlock()
		for _, e := range pending {
			_, _ = fmt.Fprintf(w, "id: %d-0\nevent: %s\ndata: %s\n\n", e.seq, e.typ, e.data)
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-changed:
		case <-ping.C:
			_, _ = fmt.Fprint(w, ": ping\n\n")
		case <-r.Context().Done():
			return
		}
	}
}

// parseEventID reads a stream id "<ms>-<seq>"; this fake's are "<n>-0".
func parseEventID(s string) (int, bool) {
	n, rest, ok := strings.Cut(s, "-")
	if !ok || !digits(n) || !digits(rest) {
		return 0, false
	}
	v, err := strconv.Atoi(n)
	return v, err == nil
}

func digits(s string) bool {
	return s != "" && len(s) <= 20 && strings.Trim(s, "0123456789") == ""
}

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "version": "fake", "commit": "0000000", "instance_id": "fake-1",
		"started_at": a.started.UTC(), "uptime_seconds": now.Sub(a.started).Round(100 * time.Millisecond).Seconds(),
		"dependencies": map[string]any{
			"postgres": map[string]any{"status": "up", "latency_ms": 0.4},
			"redis":    map[string]any{"status": "up", "latency_ms": 0.2},
		},
		"replicas": []map[string]any{
			{"instance_id": "fake-1", "version": "fake", "last_seen": now},
			{"instance_id": "fake-2", "version": "fake", "last_seen": now.Add(-3 * time.Second)},
		},
	})
}
