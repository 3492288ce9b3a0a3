// Package auth says who is calling the API and whether they may write.
//
// Two kinds of callers authenticate: automation with an API key in
// X-API-Key (package auth/keys) and the UI's admin with a session cookie
// (package session). Identify runs on every request and puts the Principal
// in the request's context; it never refuses a request without credentials
// (reads are public), but a wrong API key is 401 at once, so a client never
// mistakes a typo for anonymous access. Require guards the writes: it wants
// a principal, and for a cookie-authenticated unsafe request the session's
// CSRF token in X-CSRF-Token.
//
// Errors are returned for the service's error handler: ErrUnauthenticated
// is 401 (WWW-Authenticate is set), session.ErrCSRF is 403, ErrUnavailable
// is 503 (the session or key store could not be asked: not the client's
// fault, and not a logout either).
package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/docker-examples/stack/services/api/internal/auth/keys"
	"github.com/docker-examples/stack/services/api/internal/session"
)

var (
	// ErrUnauthenticated means credentials are missing or wrong: 401.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrUnavailable means credentials could not be checked: 503.
	ErrUnavailable = errors.New("authentication unavailable")
)

// APIKeyHeader carries API keys.
const APIKeyHeader = "X-API-Key"

// Kinds of principals.
const (
	KindAPIKey  = "api_key"
	KindSession = "session"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind string // KindAPIKey or KindSession
	// ID is stable and unique per caller: the key's id, or "session:" and
	// the username. Rate limits and idempotency keys are scoped by it.
	ID   string
	Name string // the key's name, or the username

	csrf string // the session's CSRF token
}

type ctxKey struct{}

// FromContext returns the principal Identify found, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p; tests of handlers use it.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

type unavailableKey struct{}

// KeyVerifier checks API keys; *keys.Verifier is one.
type KeyVerifier interface {
	Verify(ctx context.Context, secret string) (keys.Key, error)
}

// Sessions finds browser sessions; *session.Manager is one.
type Sessions interface {
	Get(r *http.Request) (session.Session, error)
	HasCookie(r *http.Request) bool
}

// HandlerFunc is an http handler that returns its error to the service's
// error handler instead of writing it.
type HandlerFunc = func(http.ResponseWriter, *http.Request) error

// Authenticator runs Identify and Require. It is safe for concurrent use.
type Authenticator struct {
	keys     KeyVerifier
	sessions Sessions
	log      *slog.Logger
}

// New returns an Authenticator. sessions may be nil (no browser logins).
func New(keys KeyVerifier, sessions Sessions, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Authenticator{keys: keys, sessions: sessions, log: log}
}

// Identify finds the request's principal. An X-API-Key wins over a cookie.
// A wrong key is ErrUnauthenticated; a key store failure ErrUnavailable.
// A dead or absent session leaves the request anonymous; a session store
// failure too, logged, and remembered so Require answers 503 rather than
// 401. Preflight (OPTIONS) requests pass untouched.
func (a *Authenticator) Identify(next HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method == http.MethodOptions {
			return next(w, r)
		}
		ctx := r.Context()
		if secret := r.Header.Get(APIKeyHeader); secret != "" {
			k, err := a.keys.Verify(ctx, secret)
			switch {
			case errors.Is(err, keys.ErrInvalid):
				w.Header().Set("WWW-Authenticate", `ApiKey realm="api"`)
				return ErrUnauthenticated
			case err != nil:
				a.log.ErrorContext(ctx, "cannot verify API key", slog.Any("error", err))
				return ErrUnavailable
			}
			p := Principal{Kind: KindAPIKey, ID: k.ID, Name: k.Name}
			return next(w, r.WithContext(WithPrincipal(ctx, p)))
		}
		if a.sessions != nil && a.sessions.HasCookie(r) {
			s, err := a.sessions.Get(r)
			switch {
			case err == nil:
				p := Principal{Kind: KindSession, ID: "session:" + s.Username, Name: s.Username, csrf: s.CSRFToken}
				return next(w, r.WithContext(WithPrincipal(ctx, p)))
			case !errors.Is(err, session.ErrNoSession):
				a.log.WarnContext(ctx, "cannot read session; treating the request as anonymous", slog.Any("error", err))
				ctx = context.WithValue(ctx, unavailableKey{}, true)
				return next(w, r.WithContext(ctx))
			}
		}
		return next(w, r)
	}
}

// Require lets only identified principals through, and checks the CSRF
// token of cookie-authenticated requests with unsafe methods. Put it after
// Identify on every write route.
func (a *Authenticator) Require(next HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, ok := FromContext(r.Context())
		if !ok {
			if r.Context().Value(unavailableKey{}) != nil {
				return ErrUnavailable
			}
			w.Header().Set("WWW-Authenticate", `ApiKey realm="api"`)
			return ErrUnauthenticated
		}
		if p.Kind == KindSession && !safeMethod(r.Method) {
			if err := session.CheckCSRF(session.Session{CSRFToken: p.csrf}, r); err != nil {
				return err
			}
		}
		return next(w, r)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}
