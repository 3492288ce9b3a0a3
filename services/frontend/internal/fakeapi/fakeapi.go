// Package fakeapi is an in-memory stand-in for the API service that
// follows its HTTP contract closely enough to drive the UI in a browser:
// items with versions and ETags (If-Match, 412), validation problems with
// errors[].field, a session login with a CSRF token, Server-Sent Events and
// the status document. It exists for the frontend's tests when no real API
// runs; it is not a second implementation to keep in production.
package fakeapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
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

type event struct {
	id, typ string
	data    []byte
}

// API is the fake. It is safe for concurrent use.
type API struct {
	username, password string
	started            time.Time

	mu       sync.Mutex
	items    map[string]*Item
	sessions map[string]string // session cookie -> CSRF token
	events   []event
	seq      int
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
	mux.HandleFunc("POST /api/auth/logout", a.auth(a.logout))
	mux.HandleFunc("GET /api/auth/session", a.session)
	mux.HandleFunc("GET /api/events", a.stream)
	mux.HandleFunc("GET /api/status", a.status)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		problem(w, r, http.StatusNotFound, "not-found", "no such route", nil)
	})
	a.mux = mux
	return a
}

// ServeHTTP routes the contract's endpoints.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if id := r.Header.Get("X-Correlation-ID"); id != "" {
		w.Header().Set("X-Correlation-ID", id)
	}
	a.mux.ServeHTTP(w, r)
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func problem(w http.ResponseWriter, r *http.Request, status int, slug, detail string, errs []fieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": "https://docker-examples.dev/problems/" + slug, "title": http.StatusText(status),
		"status": status, "detail": detail, "instance": r.URL.Path,
		"correlation_id": w.Header().Get("X-Correlation-ID"), "errors": errs,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func etag(it *Item) string { return fmt.Sprintf(`"%s.v%d"`, it.ID, it.Version) }

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// auth requires a session cookie and its CSRF token.
func (a *API) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		a.mu.Lock()
		token, ok := "", false
		if err == nil {
			token, ok = a.sessions[c.Value]
		}
		a.mu.Unlock()
		switch {
		case !ok:
			problem(w, r, http.StatusUnauthorized, "unauthorized", "sign in first", nil)
		case r.Header.Get("X-CSRF-Token") != token:
			problem(w, r, http.StatusForbidden, "forbidden", "missing or wrong X-CSRF-Token", nil)
		default:
			next(w, r)
		}
	}
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ Username, Password string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, r, http.StatusBadRequest, "malformed-json", err.Error(), nil)
		return
	}
	if in.Username != a.username || in.Password != a.password {
		problem(w, r, http.StatusUnauthorized, "unauthorized", "wrong username or password", nil)
		return
	}
	sid, token := newID(), newID()
	a.mu.Lock()
	a.sessions[sid] = token
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	writeJSON(w, http.StatusOK, map[string]string{"username": a.username, "csrf_token": token})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	c, _ := r.Cookie("session")
	a.mu.Lock()
	delete(a.sessions, c.Value)
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "session", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) session(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"authenticated": false}
	if c, err := r.Cookie("session"); err == nil {
		a.mu.Lock()
		token, ok := a.sessions[c.Value]
		a.mu.Unlock()
		if ok {
			out = map[string]any{"authenticated": true, "username": a.username, "csrf_token": token}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	offset, _ := strconv.Atoi(q.Get("cursor"))
	needle, label := strings.ToLower(q.Get("q")), q.Get("label")
	a.mu.Lock()
	var all []Item
	for _, it := range a.items {
		if needle != "" && !strings.Contains(strings.ToLower(it.Name+" "+it.Image+" "+it.Description), needle) {
			continue
		}
		if label != "" && !slices.Contains(it.Labels, label) {
			continue
		}
		all = append(all, *it)
	}
	a.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	out := map[string]any{"items": []Item{}}
	if offset < len(all) {
		end := min(offset+limit, len(all))
		out["items"] = all[offset:end]
		if end < len(all) {
			out["next_cursor"] = strconv.Itoa(end)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	it, ok := a.items[r.PathValue("id")]
	var cp Item
	if ok {
		cp = *it
	}
	a.mu.Unlock()
	if !ok {
		problem(w, r, http.StatusNotFound, "not-found", "no such item", nil)
		return
	}
	w.Header().Set("ETag", etag(&cp))
	writeJSON(w, http.StatusOK, cp)
}

var (
	imageRe = regexp.MustCompile(`^(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$`)
	labelRe = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
)

// decode reads and validates an item body, writing the problem itself.
func (a *API) decode(w http.ResponseWriter, r *http.Request, skipID string) (*Item, bool) {
	var in Item
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		problem(w, r, http.StatusBadRequest, "malformed-json", err.Error(), nil)
		return nil, false
	}
	var errs []fieldError
	if strings.TrimSpace(in.Name) == "" {
		errs = append(errs, fieldError{"name", "is required"})
	}
	if in.Image == "" {
		errs = append(errs, fieldError{"image", "is required"})
	} else if !imageRe.MatchString(in.Image) {
		errs = append(errs, fieldError{"image", "is not a valid image reference"})
	}
	for i, l := range in.Labels {
		if !labelRe.MatchString(l) {
			errs = append(errs, fieldError{fmt.Sprintf("labels[%d]", i), "must be lower-case letters, digits and dashes"})
		}
	}
	if in.SourceURL != "" && !strings.HasPrefix(in.SourceURL, "https://github.com/") {
		errs = append(errs, fieldError{"source_url", "must be a https://github.com/owner/repo URL"})
	}
	for i, u := range in.DocsURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fieldError{fmt.Sprintf("docs_urls[%d]", i), "must be an http(s) URL"})
		}
	}
	if len(errs) > 0 {
		problem(w, r, http.StatusUnprocessableEntity, "validation", "the item is not valid", errs)
		return nil, false
	}
	for _, it := range a.items {
		if it.Name == in.Name && it.ID != skipID {
			problem(w, r, http.StatusConflict, "conflict", fmt.Sprintf("an item named %q exists", in.Name), nil)
			return nil, false
		}
	}
	if in.Labels == nil {
		in.Labels = []string{}
	}
	if in.DocsURLs == nil {
		in.DocsURLs = []string{}
	}
	in.ImageNormalized = normalise(in.Image)
	return &in, true
}

func normalise(ref string) string {
	name := ref
	if !strings.Contains(ref, "/") {
		name = "docker.io/library/" + ref
	} else if first := ref[:strings.Index(ref, "/")]; !strings.ContainsAny(first, ".:") {
		name = "docker.io/" + ref
	}
	if !strings.Contains(name[strings.LastIndex(name, "/"):], ":") && !strings.Contains(name, "@") {
		name += ":latest"
	}
	return name
}

func (a *API) create(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	it, ok := a.decode(w, r, "")
	if !ok {
		return
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	it.ID, it.CreatedAt, it.UpdatedAt, it.Version = newID(), now, now, 1
	a.items[it.ID] = it
	a.publish("item.created", it.ID, it)
	w.Header().Set("Location", "/api/inventory/"+it.ID)
	w.Header().Set("ETag", etag(it))
	writeJSON(w, http.StatusCreated, it)
}

// precondition checks If-Match against the item's ETag.
func precondition(w http.ResponseWriter, r *http.Request, it *Item) bool {
	m := r.Header.Get("If-Match")
	if m == "" || m == "*" || strings.TrimPrefix(m, "W/") == etag(it) {
		return true
	}
	problem(w, r, http.StatusPreconditionFailed, "precondition-failed",
		fmt.Sprintf("the item is at version %d; reload it and try again", it.Version), nil)
	return false
}

func (a *API) replace(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old, ok := a.items[r.PathValue("id")]
	if !ok {
		problem(w, r, http.StatusNotFound, "not-found", "no such item", nil)
		return
	}
	if !precondition(w, r, old) {
		return
	}
	it, ok := a.decode(w, r, old.ID)
	if !ok {
		return
	}
	it.ID, it.CreatedAt, it.Version = old.ID, old.CreatedAt, old.Version+1
	it.UpdatedAt = time.Now().UTC().Truncate(time.Millisecond)
	a.items[it.ID] = it
	a.publish("item.updated", it.ID, it)
	w.Header().Set("ETag", etag(it))
	writeJSON(w, http.StatusOK, it)
}

func (a *API) remove(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	it, ok := a.items[r.PathValue("id")]
	if !ok {
		problem(w, r, http.StatusNotFound, "not-found", "no such item", nil)
		return
	}
	if !precondition(w, r, it) {
		return
	}
	delete(a.items, it.ID)
	a.publish("item.deleted", it.ID, nil)
	w.WriteHeader(http.StatusNoContent)
}

// publish records an event; a.mu must be held.
func (a *API) publish(typ, id string, it *Item) {
	a.seq++
	payload := map[string]any{"id": id, "instance_id": "fake-1"}
	if it != nil {
		payload["item"] = it
	}
	data, _ := json.Marshal(payload)
	a.events = append(a.events, event{id: fmt.Sprintf("%d-0", a.seq), typ: typ, data: data})
	close(a.changed)
	a.changed = make(chan struct{})
}

// stream serves the events after Last-Event-ID (or from now), then every
// new one, with a comment heartbeat every 15 s.
func (a *API) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	a.mu.Lock()
	next := len(a.events)
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		for i, e := range a.events {
			if e.id == last {
				next = i + 1
			}
		}
	}
	a.mu.Unlock()
	_, _ = fmt.Fprint(w, ": connected\n\n")
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
			_, _ = fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.id, e.typ, e.data)
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

func (a *API) status(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC()
	writeJSON(w, http.StatusOK, map[string]any{
		"version": "fake", "commit": "0000000", "instance_id": "fake-1",
		"started_at": a.started.UTC(), "uptime_seconds": int(now.Sub(a.started).Seconds()),
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
