package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/session"
)

type fakeKeys struct {
	keys map[string]keys.Key
	err  error
}

func (f fakeKeys) Verify(_ context.Context, secret string) (keys.Key, error) {
	if f.err != nil {
		return keys.Key{}, f.err
	}
	k, ok := f.keys[secret]
	if !ok {
		return keys.Key{}, keys.ErrInvalid
	}
	return k, nil
}

// fakeSessions knows the cookie "sid=good".
type fakeSessions struct{ err error }

func (f fakeSessions) HasCookie(r *http.Request) bool {
	_, err := r.Cookie("sid")
	return err == nil
}

func (f fakeSessions) Get(r *http.Request) (session.Session, error) {
	if f.err != nil {
		return session.Session{}, f.err
	}
	if c, _ := r.Cookie("sid"); c.Value == "good" {
		return session.Session{Username: "admin", CSRFToken: "csrf-1"}, nil
	}
	return session.Session{}, session.ErrNoSession
}

func status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, session.ErrCSRF):
		return http.StatusForbidden
	case errors.Is(err, auth.ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func TestIdentifyAndRequire(t *testing.T) {
	ks := fakeKeys{keys: map[string]keys.Key{"dex_good": {ID: "k1", Name: "ci"}}}
	tests := []struct {
		name      string
		keys      fakeKeys
		sessions  fakeSessions
		method    string
		apiKey    string
		cookie    string
		csrf      string
		write     bool // the route requires a principal
		want      int
		wantPrinc string
	}{
		{name: "anonymous read", method: "GET", want: 200},
		{name: "anonymous write", method: "POST", write: true, want: 401},
		{name: "key write", method: "POST", apiKey: "dex_good", write: true, want: 200, wantPrinc: "k1"},
		{name: "wrong key on a read", method: "GET", apiKey: "dex_bad", want: 401},
		{name: "key store down", keys: fakeKeys{err: errors.New("db down")}, method: "POST", apiKey: "dex_good", write: true, want: 503},
		{name: "session read", method: "GET", cookie: "good", want: 200, wantPrinc: "session:admin"},
		{name: "session write with csrf", method: "PATCH", cookie: "good", csrf: "csrf-1", write: true, want: 200, wantPrinc: "session:admin"},
		{name: "session write without csrf", method: "DELETE", cookie: "good", write: true, want: 403},
		{name: "session write with wrong csrf", method: "POST", cookie: "good", csrf: "csrf-2", write: true, want: 403},
		{name: "key wins over cookie, no csrf needed", method: "POST", apiKey: "dex_good", cookie: "good", write: true, want: 200, wantPrinc: "k1"},
		{name: "expired session write", method: "POST", cookie: "old", csrf: "csrf-1", write: true, want: 401},
		{name: "expired session read", method: "GET", cookie: "old", want: 200},
		{name: "session store down, read", sessions: fakeSessions{err: errors.New("redis down")}, method: "GET", cookie: "good", want: 200},
		{name: "session store down, write", sessions: fakeSessions{err: errors.New("redis down")}, method: "POST", cookie: "good", csrf: "csrf-1", write: true, want: 503},
		{name: "preflight needs nothing", method: "OPTIONS", apiKey: "dex_bad", want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.keys.keys == nil && tc.keys.err == nil {
				tc.keys = ks
			}
			a := auth.New(tc.keys, tc.sessions, nil)
			var princ string
			h := func(w http.ResponseWriter, r *http.Request) error {
				if p, ok := auth.FromContext(r.Context()); ok {
					princ = p.ID
				}
				return nil
			}
			if tc.write {
				h = a.Require(h)
			}
			h = a.Identify(h)

			req := httptest.NewRequest(tc.method, "/api/inventory", nil)
			if tc.apiKey != "" {
				req.Header.Set(auth.APIKeyHeader, tc.apiKey)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "sid", Value: tc.cookie})
			}
			if tc.csrf != "" {
				req.Header.Set(session.CSRFHeader, tc.csrf)
			}
			rec := httptest.NewRecorder()
			got := status(h(rec, req))
			if got != tc.want {
				t.Errorf("status = %d, want %d", got, tc.want)
			}
			if princ != tc.wantPrinc {
				t.Errorf("principal = %q, want %q", princ, tc.wantPrinc)
			}
			if got == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}
