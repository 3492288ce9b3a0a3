// Package e2e_test drives the UI in headless Chromium (Debian's chromium,
// through chromedp) against the real api.
//
// With E2E_FRONTEND_URL (and E2E_ADMIN_PASSWORD) the tests use a running
// stack:
//
//	E2E_FRONTEND_URL=http://127.0.0.1:3000 E2E_ADMIN_PASSWORD=... go test ./e2e
//
// An https URL (the cluster's lb) also needs E2E_TLS_CA, the CA its
// certificate is checked against before the browser is told to accept it.
//
// Without it, each test gets a stack of its own in this process: the api's
// own run function (services/api/apitest) on a fresh PostgreSQL and Redis
// database, and the frontend's server in front of it, both on loopback.
// Those tests skip when no PostgreSQL or Redis can be had (see apitest) or no
// Chromium is installed, except under CI=true, where they fail. Screenshots
// go to E2E_SCREENSHOT_DIR (default: a temporary directory, logged). The
// browser is E2E_CHROMIUM, default /usr/bin/chromium.
package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/docker-examples/stack/services/api/apitest"
	"github.com/docker-examples/stack/services/frontend/internal/assets"
	"github.com/docker-examples/stack/services/frontend/internal/site"
	"github.com/docker-examples/stack/services/frontend/internal/web"
)

// inProcessPassword is the admin password of an in-process stack.
const inProcessPassword = "e2e-password"

// stack is what the tests run against.
var stack struct {
	base, password, shots string
	skip                  string
	browser               context.Context // a started browser; tests open contexts in it

	// In-process mode: the UI, built once, and the test the current
	// in-process stack belongs to.
	ui    *assets.Set
	owner testing.TB
	// apiEnv adds to the in-process api's environment for the test that
	// starts it (the enrichment test points it at local servers).
	apiEnv map[string]string
}

func TestMain(m *testing.M) {
	code := run(m)
	apitest.Stop()
	os.Exit(code)
}

func run(m *testing.M) int {
	stack.base = strings.TrimRight(os.Getenv("E2E_FRONTEND_URL"), "/")
	stack.password = os.Getenv("E2E_ADMIN_PASSWORD")
	exec := os.Getenv("E2E_CHROMIUM")
	if exec == "" {
		exec = "/usr/bin/chromium"
	}
	switch {
	case stack.base != "" && stack.password == "":
		stack.skip = "E2E_ADMIN_PASSWORD is not set"
	case stack.base == "":
		ui, err := assets.Build(web.FS())
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		stack.ui, stack.password = ui, inProcessPassword
	}
	if stack.skip == "" {
		if _, err := os.Stat(exec); err != nil {
			stack.skip = fmt.Sprintf("no Chromium at %s (apt-get install chromium, or set E2E_CHROMIUM): %v", exec, err)
		}
	}
	if stack.skip != "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "e2e:", stack.skip)
			return 1
		}
		return m.Run() // every test skips with the reason
	}

	stack.shots = os.Getenv("E2E_SCREENSHOT_DIR")
	if stack.shots == "" {
		dir, err := os.MkdirTemp("", "frontend-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		stack.shots = dir
	}
	if err := os.MkdirAll(stack.shots, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "e2e: screenshots in", stack.shots)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exec),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.WindowSize(1280, 900),
	)
	// A stack behind the lb is reached over HTTPS: the browser trusts the
	// lb's certificate once it has verified against E2E_TLS_CA here.
	if strings.HasPrefix(stack.base, "https://") {
		pin, err := certificatePin(stack.base, os.Getenv("E2E_TLS_CA"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", pin))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts the browser
		fmt.Fprintln(os.Stderr, "e2e: starting chromium:", err)
		return 1
	}
	stack.browser = browser
	return m.Run()
}

// certificatePin verifies the certificate base serves against the CA in
// caFile and returns its public key's pin (base64 SHA-256 of the
// SubjectPublicKeyInfo), which Chromium's --ignore-certificate-errors-spki-list
// takes: the browser then accepts that one key, and no other certificate
// error.
func certificatePin(base, caFile string) (string, error) {
	if caFile == "" {
		return "", fmt.Errorf("%s is HTTPS: set E2E_TLS_CA to the CA of its certificate (scripts/e2e.sh does)", base)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return "", fmt.Errorf("E2E_TLS_CA: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return "", fmt.Errorf("E2E_TLS_CA: no certificate in %s", caFile)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12})
	if err != nil {
		return "", fmt.Errorf("%s with E2E_TLS_CA %s: %w", base, caFile, err)
	}
	defer conn.Close()
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}

// startInProcess serves, for t, the real api on fresh databases and the
// frontend's own server (as deployed) in front of it, both on loopback, and
// points stack.base at the frontend. Both stop when t ends.
func startInProcess(t testing.TB) {
	t.Helper()
	// The tests sign in many times a minute from one address.
	env := map[string]string{"RATE_LIMIT_LOGIN": "600/m"}
	for k, v := range stack.apiEnv {
		env[k] = v
	}
	apiBase := apitest.Start(t, inProcessPassword, env)
	u, err := url.Parse(apiBase)
	if err != nil {
		t.Fatal(err)
	}
	s, err := site.New(site.Config{UI: stack.ui, APIURL: u, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fe := s.Server()
	go func() { _ = fe.Serve(ln) }()
	stack.base, stack.owner = "http://"+ln.Addr().String(), t
	t.Cleanup(func() {
		s.Shutdown()
		_ = fe.Server.Shutdown()
		stack.base, stack.owner = "", nil
	})
}

// requireStack skips t when there is nothing to test against, and starts
// t's in-process stack on first use.
func requireStack(t *testing.T) {
	t.Helper()
	if stack.skip != "" {
		t.Skip(stack.skip)
	}
	if stack.ui != nil && stack.owner != t {
		startInProcess(t)
	}
}

// user is one person: a browser context with its own cookies. Tabs opened
// with tab share them.
type user struct {
	t   *testing.T
	ctx context.Context
}

// newUser opens a fresh browser context (no cookies) with one tab.
func newUser(t *testing.T) *user {
	t.Helper()
	requireStack(t)
	ctx, cancel := chromedp.NewContext(stack.browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	u := &user{t: t, ctx: ctx}
	watchConsole(t, ctx)
	return u
}

// tab opens another tab in the user's browser context.
func (u *user) tab() *user {
	u.t.Helper()
	ctx, cancel := chromedp.NewContext(u.ctx)
	u.t.Cleanup(cancel)
	watchConsole(u.t, ctx)
	return &user{t: u.t, ctx: ctx}
}

// watchConsole fails the test for any console error or uncaught exception
// of the tab. Entries of the network log are left out: a 412 or a 422 the
// UI handles is logged by the browser as a failed resource.
func watchConsole(t *testing.T, ctx context.Context) {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil { // opens the tab
		t.Fatal(err)
	}
	var mu sync.Mutex
	var problems []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if (m.Type == chromedp.ConsoleError || m.IsException()) && m.Source != "network" {
				mu.Lock()
				problems = append(problems, m.String())
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("console: %s", p)
		}
	})
}

// do runs browser actions with a deadline, failing the test with what was
// being attempted.
func (u *user) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		u.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		u.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the text of the first element matching the CSS selector.
func (u *user) text(sel string) string {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		u.shot("failed-text")
		u.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a JavaScript expression.
func eval[T any](u *user, expr string) T {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		u.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate until it is true or 15 s pass.
func (u *user) waitFor(what, predicate string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		u.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		u.t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// open loads a page of the UI and waits until its view has rendered.
func (u *user) open(path string) {
	u.t.Helper()
	u.do("open "+path, chromedp.Navigate(stack.base+path))
	u.waitFor("the view of "+path, `document.body.dataset.auth !== "unknown" && !document.querySelector("main").hasAttribute("aria-busy")`)
}

// shot saves a screenshot of the viewport as NAME.png.
func (u *user) shot(name string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(u.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		u.t.Logf("screenshot %s: %v", name, err)
		return
	}
	name = strings.NewReplacer("/", "_", " ", "-").Replace(name)
	p := filepath.Join(stack.shots, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		u.t.Errorf("screenshot %s: %v", name, err)
	}
}

// fill replaces the value of an input or textarea by typing, so the page
// sees the same events as from a keyboard.
func fill(sel, value string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.WaitVisible(chromedp.CSS(sel))(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		clear := fmt.Sprintf(`(el => { el.value = ""; return true })(document.querySelector(%q))`, sel)
		if _, err := chromedp.Evaluate[bool](clear)(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.SendKeys(chromedp.CSS(sel), value)(ctx, t)
	}
}

// signIn signs the user in through the UI and waits for the write controls.
func (u *user) signIn() {
	u.t.Helper()
	u.open("/signin")
	u.do("sign in",
		fill("#username", "admin"),
		fill("#password", stack.password),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signout")),
	)
}

// unique returns a name no other test run uses.
func unique(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// item is the part of an API item the tests look at.
type item struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
	TagInclude  string   `json:"tag_include"`
	TagExclude  string   `json:"tag_exclude"`
	Version     int      `json:"version"`
}

// apiClient is a signed-in HTTP client of the API through the frontend,
// used to arrange data and to check outcomes.
type apiClient struct {
	t    *testing.T
	c    *http.Client
	csrf string
}

func newAPIClient(t *testing.T) *apiClient {
	t.Helper()
	requireStack(t)
	jar, _ := cookiejar.New(nil)
	a := &apiClient{t: t, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	var out struct {
		CSRF string `json:"csrf_token"`
	}
	if code := a.call("POST", "/api/auth/login", map[string]string{"username": "admin", "password": stack.password}, &out); code != 200 {
		t.Fatalf("API login = %d, want 200", code)
	}
	a.csrf = out.CSRF
	return a
}

func (a *apiClient) call(method, path string, body, out any) int {
	a.t.Helper()
	var rd *strings.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, stack.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", stack.base)
	if a.csrf != "" {
		req.Header.Set("X-CSRF-Token", a.csrf)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			a.t.Fatalf("%s %s: decoding: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// create makes an item and deletes it when the test ends.
func (a *apiClient) create(name string) item {
	a.t.Helper()
	var it item
	body := map[string]any{"name": name, "image": "redis:7-bookworm", "description": "made by the e2e tests", "labels": []string{"e2e"}}
	if code := a.call("POST", "/api/inventory", body, &it); code != http.StatusCreated && code != http.StatusOK {
		a.t.Fatalf("create %s = %d", name, code)
	}
	a.t.Cleanup(func() { a.call("DELETE", "/api/inventory/"+it.ID, nil, nil) })
	return it
}

func (a *apiClient) get(id string) (item, int) {
	a.t.Helper()
	var it item
	code := a.call("GET", "/api/inventory/"+url.PathEscape(id), nil, &it)
	return it, code
}
