package session_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/redistest"
	"github.com/docker-examples/stack/services/api/internal/session"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// The argon2id hash costs tens of milliseconds: make it once.
var admin = sync.OnceValue(func() *session.Admin {
	return session.NewAdmin("admin", secret.New("correct horse battery staple"))
})

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newManager(t *testing.T, r *faultredis.Redis, opts session.Options) *session.Manager {
	t.Helper()
	return session.NewManager(r.Client(t), admin(), opts)
}

const goodPassword = "correct horse battery staple"

// tryLogin logs in over a request carrying cookies and returns what the
// response got (the cookie).
func tryLogin(m *session.Manager, username, password string, configure ...func(*http.Request)) (*httptest.ResponseRecorder, session.Session, error) {
	req := httptest.NewRequest(http.MethodPost, "/api/auth/login", nil)
	for _, f := range configure {
		f(req)
	}
	rec := httptest.NewRecorder()
	s, err := m.Login(req.Context(), rec, req, username, password)
	return rec, s, err
}

func withCookies(cs ...*http.Cookie) func(*http.Request) {
	return func(r *http.Request) {
		for _, c := range cs {
			r.AddCookie(c)
		}
	}
}

func login(t *testing.T, m *session.Manager, cookies ...*http.Cookie) (*http.Cookie, string) {
	t.Helper()
	rec, s, err := tryLogin(m, "admin", goodPassword, withCookies(cookies...))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("login set %d cookies, want 1", len(cs))
	}
	return cs[0], s.CSRFToken
}

type sessionBody struct {
	Authenticated bool
	Username      string
	CSRFToken     string
}

// whoami is the session the cookie c stands for.
func whoami(t *testing.T, m *session.Manager, c *http.Cookie) sessionBody {
	t.Helper()
	s, err := get(m, c)
	if errors.Is(err, session.ErrNoSession) {
		return sessionBody{}
	}
	if err != nil {
		t.Fatalf("get session: %v", err)
	}
	return sessionBody{Authenticated: true, Username: s.Username, CSRFToken: s.CSRFToken}
}

func get(m *session.Manager, c *http.Cookie) (session.Session, error) {
	req := httptest.NewRequest(http.MethodGet, "/api/auth/session", nil)
	if c != nil {
		req.AddCookie(c)
	}
	return m.Get(req)
}

func TestLoginSessionLogout(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})

	c, csrf := login(t, m)
	if got := whoami(t, m, c); !got.Authenticated || got.Username != "admin" || got.CSRFToken != csrf {
		t.Errorf("session after login = %+v, want admin with csrf %q", got, csrf)
	}
	if got := whoami(t, m, nil); got.Authenticated {
		t.Errorf("session without cookie = %+v, want unauthenticated", got)
	}

	req := httptest.NewRequest(http.MethodPost, "/api/auth/logout", nil)
	req.AddCookie(c)
	rec := httptest.NewRecorder()
	if err := m.Logout(rec, req); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("logout cookies = %v, want one clearing the session", cs)
	}
	if got := whoami(t, m, c); got.Authenticated {
		t.Error("the old cookie still works after logout")
	}
}

func TestCookieAttributes(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{AbsoluteTimeout: time.Hour})

	c, _ := login(t, m)
	want := http.Cookie{Name: "dex_session", Path: "/", MaxAge: 3600, HttpOnly: true, Secure: false, SameSite: http.SameSiteStrictMode}
	got := http.Cookie{Name: c.Name, Path: c.Path, MaxAge: c.MaxAge, HttpOnly: c.HttpOnly, Secure: c.Secure, SameSite: c.SameSite}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cookie over http (-want +got):\n%s", diff)
	}

	rec, _, err := tryLogin(m, "admin", goodPassword, func(r *http.Request) { r.TLS = &tls.ConnectionState{} })
	if err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "__Host-dex_session" || !cs[0].Secure || !cs[0].HttpOnly {
		t.Errorf("cookie over https = %+v, want a Secure HttpOnly __Host- cookie", cs)
	}
}

func TestWrongCredentials(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})
	for _, up := range [][2]string{{"admin", "wrong"}, {"root", goodPassword}, {"", ""}} {
		rec, _, err := tryLogin(m, up[0], up[1])
		if !errors.Is(err, session.ErrBadCredentials) || len(rec.Result().Cookies()) != 0 {
			t.Errorf("login %q: %v with cookies %v, want ErrBadCredentials (401) and none", up, err, rec.Result().Cookies())
		}
	}
}

func TestAdminWithoutPasswordAcceptsNoLogin(t *testing.T) {
	a := session.NewAdmin("admin", secret.Value{})
	if a.Check("admin", "") {
		t.Error("an admin without a password accepted an empty one")
	}
}

// An id planted before login (session fixation) must not survive it.
func TestLoginReplacesTheSessionID(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})
	first, _ := login(t, m)
	second, _ := login(t, m, first)
	if first.Value == second.Value {
		t.Fatal("login kept the session id")
	}
	if whoami(t, m, first).Authenticated {
		t.Error("the session from before the login still works")
	}
	if !whoami(t, m, second).Authenticated {
		t.Error("the new session does not work")
	}
}

func TestSessionWorksOnEveryReplica(t *testing.T) {
	r := faultredis.New(t)
	m1, m2 := newManager(t, r, session.Options{}), newManager(t, r, session.Options{})
	c, csrf := login(t, m1)
	if got := whoami(t, m2, c); !got.Authenticated || got.CSRFToken != csrf {
		t.Errorf("replica 2 sees %+v, want the session made on replica 1", got)
	}
}

func TestExpiry(t *testing.T) {
	r := faultredis.New(t)
	clk := &clock{t: time.Now()}
	const idle, absolute = time.Hour, 3 * time.Hour
	m := newManager(t, r, session.Options{IdleTimeout: idle, AbsoluteTimeout: absolute, Now: clk.Now})
	c, _ := login(t, m)
	ctx := context.Background()
	key := func() string {
		keys, err := r.Direct().Keys(ctx, "session:*").Result()
		if err != nil || len(keys) != 1 {
			t.Fatalf("session keys = %v, %v; want one", keys, err)
		}
		return keys[0]
	}
	ttl := func() time.Duration { return r.Direct().PTTL(ctx, key()).Val() }

	// Idle expiry: Redis drops the session after IdleTimeout, and each
	// request starts that period again.
	if got := ttl(); got <= 0 || got > idle {
		t.Fatalf("TTL after login = %s, want in (0, %s]", got, idle)
	}
	r.Direct().PExpire(ctx, key(), time.Minute) // as if 59 idle minutes passed
	whoami(t, m, c)
	if got := ttl(); got <= time.Minute {
		t.Errorf("TTL after a request = %s, want the idle timeout restored (> 1m)", got)
	}

	// Absolute expiry: activity never extends past it.
	clk.Add(absolute - 10*time.Minute)
	if !whoami(t, m, c).Authenticated {
		t.Fatal("session ended before its absolute expiry")
	}
	if got := ttl(); got > 10*time.Minute {
		t.Errorf("TTL 10 minutes before absolute expiry = %s, want at most 10m", got)
	}
	clk.Add(10 * time.Minute)
	if whoami(t, m, c).Authenticated {
		t.Error("session alive at its absolute expiry")
	}

	// And a session whose key expired for idleness is gone.
	c2, _ := login(t, m)
	r.Direct().Del(ctx, key())
	if whoami(t, m, c2).Authenticated {
		t.Error("session alive after its key expired")
	}
}

func TestCheckCSRF(t *testing.T) {
	s := session.Session{Username: "admin", CSRFToken: "token-1"}
	for _, tc := range []struct {
		header string
		want   error
	}{
		{"token-1", nil},
		{"", session.ErrCSRF},
		{"token-2", session.ErrCSRF},
		{"token-1x", session.ErrCSRF},
	} {
		req := httptest.NewRequest(http.MethodPost, "/api/inventory", nil)
		if tc.header != "" {
			req.Header.Set(session.CSRFHeader, tc.header)
		}
		if err := session.CheckCSRF(s, req); !errors.Is(err, tc.want) {
			t.Errorf("CheckCSRF with %q = %v, want %v", tc.header, err, tc.want)
		}
	}
}

func TestRedisDown(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})
	c, _ := login(t, m)
	r.Stop()

	if _, err := get(m, c); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("get session with Redis down: %v, want ErrUnavailable (503, not a silent logout)", err)
	}
	if _, _, err := tryLogin(m, "admin", goodPassword); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("login with Redis down: %v, want ErrUnavailable (503)", err)
	}

	r.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := get(m, c); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("session not readable after Redis came back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !whoami(t, m, c).Authenticated {
		t.Error("session lost across the outage")
	}
}

func TestAuthenticate(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})
	c, csrf := login(t, m)
	ended := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", 43)}
	tests := []struct {
		name   string
		method string
		cookie *http.Cookie
		csrf   string
		want   error
	}{
		{"no cookie", http.MethodPost, nil, "", auth.ErrNoCredentials},
		{"read", http.MethodGet, c, "", nil},
		{"write with csrf", http.MethodPatch, c, csrf, nil},
		{"write without csrf", http.MethodDelete, c, "", auth.ErrForbidden},
		{"write with a wrong csrf", http.MethodPost, c, "nope", auth.ErrForbidden},
		{"ended session", http.MethodPost, ended, csrf, auth.ErrInvalidCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/api/inventory", nil)
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			if tc.csrf != "" {
				req.Header.Set(session.CSRFHeader, tc.csrf)
			}
			p, err := m.Authenticate(req)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Authenticate error = %v, want %v", err, tc.want)
			}
			if err == nil && (p.Subject != "admin" || p.Method != "session") {
				t.Errorf("principal = %+v, want admin by session", p)
			}
		})
	}
	r.Stop()
	req := httptest.NewRequest(http.MethodPost, "/api/inventory", nil)
	req.AddCookie(c)
	req.Header.Set(session.CSRFHeader, csrf)
	if _, err := m.Authenticate(req); !errors.Is(err, session.ErrUnavailable) {
		t.Errorf("Authenticate with Redis down: %v, want ErrUnavailable (503, not 401)", err)
	}
}

// With Redis down a right password can't start a session (503): a wrong
// one must get the same answer, or the status tells a guesser which
// password was right (it used to be 401 wrong, 503 right).
func TestLoginAnswerHidesThePasswordWhileRedisIsDown(t *testing.T) {
	r := faultredis.New(t)
	m := newManager(t, r, session.Options{})
	r.Stop()
	_, _, right := tryLogin(m, "admin", goodPassword)
	_, _, wrong := tryLogin(m, "admin", "wrong")
	if !errors.Is(right, session.ErrUnavailable) || !errors.Is(wrong, session.ErrUnavailable) {
		t.Errorf("with Redis down: right password %v, wrong password %v; want ErrUnavailable (503) for both", right, wrong)
	}
	r.Start()
}

// A flood of sign-ins is refused at once (ErrBusy, 503) beyond a bounded
// queue, instead of queueing goroutines without end.
func TestPasswordChecksHaveABoundedQueue(t *testing.T) {
	a := session.NewAdmin("admin", secret.New("s3cret-password"))
	const n = 200
	var wg sync.WaitGroup
	var busy, done atomic.Int32
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := a.CheckContext(context.Background(), "admin", "wrong")
			switch {
			case errors.Is(err, session.ErrBusy):
				if !errors.Is(err, session.ErrUnavailable) {
					t.Error("ErrBusy is not an ErrUnavailable (503)")
				}
				busy.Add(1)
			case err == nil:
				done.Add(1)
			default:
				t.Errorf("CheckContext: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if busy.Load() == 0 {
		t.Errorf("%d concurrent checks: none refused, all %d queued", n, done.Load())
	}
	if done.Load() == 0 {
		t.Error("every check was refused")
	}
	// Once the flood is over, checks run again.
	if ok, err := a.CheckContext(context.Background(), "admin", "s3cret-password"); err != nil || !ok {
		t.Errorf("after the flood: %v, %v; want true, nil", ok, err)
	}
}
