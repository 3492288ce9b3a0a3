// Package session keeps the browser sessions of the UI's admin in Redis, so
// a login on one API replica holds on every other.
//
// A session starts at login (the admin's username and password, see Admin)
// with a fresh random id, whatever session the browser had before, so an id
// planted before login is worthless. The id travels only in a cookie that is
// HttpOnly, SameSite=Strict, Path=/, and Secure with the __Host- prefix when
// the client came over https. It ends at logout, after IdleTimeout without a
// request, or at AbsoluteTimeout after login, whichever comes first. Redis
// holds only a hash of the id.
//
// Each session has a CSRF token, which the API returns at login and on
// GET /api/auth/session; cookie-authenticated writes must echo it in
// X-CSRF-Token (CheckCSRF). SameSite=Strict already stops cross-site
// requests in current browsers; the token is the defence in depth.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/services/api/internal/auth"
)

var (
	// ErrBadCredentials means the username or password is wrong: 401.
	ErrBadCredentials = errors.New("wrong username or password")
	// ErrNoSession means the request carries no live session: 401 where
	// one is required.
	ErrNoSession = errors.New("no session")
	// ErrCSRF means a cookie-authenticated write lacks the session's
	// X-CSRF-Token: 403.
	ErrCSRF = errors.New("missing or wrong X-CSRF-Token")
	// ErrUnavailable wraps Redis failures: 503, never a silent logout.
	ErrUnavailable = errors.New("session store unavailable")
)

// CSRFHeader is the header that carries the CSRF token.
const CSRFHeader = "X-CSRF-Token"

// Options tune a Manager. The zero value is usable.
type Options struct {
	// IdleTimeout ends a session after this long without a request,
	// default 30 minutes.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login whatever its
	// activity, default 12 hours.
	AbsoluteTimeout time.Duration
	// Prefix starts every Redis key, default "session:".
	Prefix string
	// IsHTTPS tells whether the client came over https, to mark the cookie
	// Secure. Default: the connection is TLS. Behind the load balancer use
	// forwarded.Resolver.IsHTTPS.
	IsHTTPS func(*http.Request) bool
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// Cookie names: browsers accept a __Host- cookie only if it is Secure,
// host-only and Path=/, which stops a sibling subdomain from planting one.
const (
	cookieHTTPS = "__Host-dex_session"
	cookieHTTP  = "dex_session"
)

// Session is a live login.
type Session struct {
	Username  string
	CSRFToken string
	CreatedAt time.Time
}

// Manager creates, finds and ends sessions. It is safe for concurrent use.
type Manager struct {
	rdb   redis.UniversalClient
	admin *Admin
	opts  Options
}

// NewManager returns a Manager on rdb that logs in admin.
func NewManager(rdb redis.UniversalClient, admin *Admin, opts Options) *Manager {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.AbsoluteTimeout <= 0 {
		opts.AbsoluteTimeout = 12 * time.Hour
	}
	if opts.Prefix == "" {
		opts.Prefix = "session:"
	}
	if opts.IsHTTPS == nil {
		opts.IsHTTPS = func(r *http.Request) bool { return r.TLS != nil }
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Manager{rdb: rdb, admin: admin, opts: opts}
}

func (m *Manager) key(id string) string {
	h := sha256.Sum256([]byte(id))
	return m.opts.Prefix + hex.EncodeToString(h[:])
}

func (m *Manager) cookieName(r *http.Request) string {
	if m.opts.IsHTTPS(r) {
		return cookieHTTPS
	}
	return cookieHTTP
}

// sessionID returns the id in r's session cookie, or "".
func (m *Manager) sessionID(r *http.Request) string {
	c, err := r.Cookie(m.cookieName(r))
	if err != nil || len(c.Value) != 43 { // 32 bytes, base64url without padding
		return ""
	}
	return c.Value
}

// Login checks the credentials and starts a new session, replacing the one
// r carried, and sets its cookie on w. Wrong credentials are
// ErrBadCredentials; any other error is Redis failing.
func (m *Manager) Login(ctx context.Context, w http.ResponseWriter, r *http.Request, username, password string) (Session, error) {
	if m.admin == nil {
		return Session{}, m.refuse(ctx)
	}
	ok, err := m.admin.CheckContext(ctx, username, password)
	if err != nil {
		return Session{}, fmt.Errorf("session: login: %w", err)
	}
	if !ok {
		return Session{}, m.refuse(ctx)
	}
	id, csrf := token(), token()
	now := m.opts.Now()
	s := Session{Username: username, CSRFToken: csrf, CreatedAt: now}
	_, err = m.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if old := m.sessionID(r); old != "" {
			p.Del(ctx, m.key(old))
		}
		k := m.key(id)
		p.HSet(ctx, k, "u", username, "csrf", csrf, "created", now.UnixMilli())
		p.PExpire(ctx, k, min(m.opts.IdleTimeout, m.opts.AbsoluteTimeout))
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("session: login: %w: %w", ErrUnavailable, err)
	}
	http.SetCookie(w, m.cookie(r, id, int(m.opts.AbsoluteTimeout/time.Second)))
	return s, nil
}

// refuse answers wrong credentials the way a right password would be
// answered in the same state of Redis: with Redis failing a right password
// can't start a session (503), so a wrong one gets 503 too, and the status
// never tells a guesser that the password was right.
func (m *Manager) refuse(ctx context.Context) error {
	if err := m.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("session: login: %w: %w", ErrUnavailable, err)
	}
	return ErrBadCredentials
}

func (m *Manager) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     m.cookieName(r),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   m.opts.IsHTTPS(r),
		SameSite: http.SameSiteStrictMode,
	}
}

// getScript returns the session's fields and extends its idle expiry
// without passing its absolute one; an expired session is deleted.
// ARGV: now (ms), absolute timeout (ms), idle timeout (ms).
var getScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'u', 'csrf', 'created')
if not v[1] then return false end
local left = tonumber(v[3]) + tonumber(ARGV[2]) - tonumber(ARGV[1])
if left <= 0 then
  redis.call('DEL', KEYS[1])
  return false
end
redis.call('PEXPIRE', KEYS[1], math.min(tonumber(ARGV[3]), left))
return v
`)

// Get returns r's live session, extending its idle expiry, or
// ErrNoSession. Any other error is Redis failing.
func (m *Manager) Get(r *http.Request) (Session, error) {
	id := m.sessionID(r)
	if id == "" {
		return Session{}, ErrNoSession
	}
	now := m.opts.Now()
	v, err := getScript.Run(r.Context(), m.rdb, []string{m.key(id)},
		now.UnixMilli(), m.opts.AbsoluteTimeout.Milliseconds(), m.opts.IdleTimeout.Milliseconds()).Slice()
	if errors.Is(err, redis.Nil) {
		return Session{}, ErrNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: get: %w: %w", ErrUnavailable, err)
	}
	if len(v) != 3 {
		return Session{}, fmt.Errorf("session: get: unexpected reply %v", v)
	}
	u, _ := v[0].(string)
	csrf, _ := v[1].(string)
	created, _ := v[2].(string)
	ms, _ := strconv.ParseInt(created, 10, 64)
	return Session{Username: u, CSRFToken: csrf, CreatedAt: time.UnixMilli(ms)}, nil
}

// Logout ends r's session, if any, and clears its cookie. Any error is
// Redis failing; the cookie is cleared even then.
func (m *Manager) Logout(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, m.cookie(r, "", -1))
	if id := m.sessionID(r); id != "" {
		if err := m.rdb.Del(r.Context(), m.key(id)).Err(); err != nil {
			return fmt.Errorf("session: logout: %w: %w", ErrUnavailable, err)
		}
	}
	return nil
}

// CheckCSRF returns ErrCSRF unless r carries s's token in X-CSRF-Token.
// Call it for every cookie-authenticated request with an unsafe method.
func CheckCSRF(s Session, r *http.Request) error {
	got := r.Header.Get(CSRFHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRFToken)) != 1 {
		return ErrCSRF
	}
	return nil
}

// Authenticate implements auth.Authenticator with the session cookie: no
// cookie is auth.ErrNoCredentials, an ended session
// auth.ErrInvalidCredentials, and an unsafe method without the session's
// X-CSRF-Token auth.ErrForbidden (wrapping ErrCSRF). Redis failing is
// ErrUnavailable. The principal's Subject is the username.
func (m *Manager) Authenticate(r *http.Request) (auth.Principal, error) {
	if !m.HasCookie(r) {
		return auth.Principal{}, auth.ErrNoCredentials
	}
	s, err := m.Get(r)
	switch {
	case errors.Is(err, ErrNoSession):
		return auth.Principal{}, fmt.Errorf("%w: the session has ended", auth.ErrInvalidCredentials)
	case err != nil:
		return auth.Principal{}, err
	}
	if !safeMethod(r.Method) {
		if err := CheckCSRF(s, r); err != nil {
			return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrForbidden, err)
		}
	}
	return auth.Principal{Subject: s.Username, Method: "session"}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// HasCookie reports whether r carries a session cookie at all, live or
// not: a request with one and no X-API-Key is cookie-authenticated.
func (m *Manager) HasCookie(r *http.Request) bool { return m.sessionID(r) != "" }

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
