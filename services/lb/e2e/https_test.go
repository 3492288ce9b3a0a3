package e2e_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignInOnlyOverHTTPS is issue 11 item 7 as a user meets it on the
// cluster's or swarm's lb: plain HTTP (E2E_LB_HTTP_URL) answers 308 to
// https, /health and ACME HTTP-01 challenges excepted; HTTPS (E2E_LB_URL)
// serves the certificate given as the tls_cert secret, which a client
// trusting only that certificate's CA (E2E_TLS_CA) accepts for the address
// it dialled; every HTTPS answer carries Strict-Transport-Security; and
// signing in over HTTPS gives a Secure, __Host- session cookie, while the
// same sign-in on plain HTTP gets a redirect and no cookie.
func TestSignInOnlyOverHTTPS(t *testing.T) {
	base := lbURL(t)
	plain := strings.TrimSuffix(os.Getenv("E2E_LB_HTTP_URL"), "/")
	caFile, password := os.Getenv("E2E_TLS_CA"), os.Getenv("E2E_ADMIN_PASSWORD")
	if plain == "" || caFile == "" || password == "" || !strings.HasPrefix(base, "https://") {
		t.Skip("set E2E_LB_URL (https), E2E_LB_HTTP_URL, E2E_TLS_CA and E2E_ADMIN_PASSWORD (scripts/e2e.sh cluster does)")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("E2E_TLS_CA %s holds no certificate", caFile)
	}
	// Only the given CA, not the system's authorities nor SSL_CERT_FILE:
	// an answer at all shows the lb serves the given certificate.
	c := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	do := func(method, url, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		resp.Body.Close()
		return resp
	}
	login, _ := json.Marshal(map[string]string{"username": "admin", "password": password})

	t.Run("plain HTTP redirects to https", func(t *testing.T) {
		for _, path := range []string{"/", "/api/status?x=1", "/api/auth/login"} {
			method := http.MethodGet
			body := ""
			if path == "/api/auth/login" {
				method, body = http.MethodPost, string(login)
			}
			resp := do(method, plain+path, body)
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != base+path {
				t.Errorf("%s http %s = %d Location %q, want 308 to %s", method, path, resp.StatusCode, resp.Header.Get("Location"), base+path)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
				t.Errorf("%s http %s set cookies over plain HTTP: %q", method, path, sc)
			}
		}
	})

	t.Run("health and ACME challenges stay on plain HTTP", func(t *testing.T) {
		if resp := do(http.MethodGet, plain+"/health", ""); resp.StatusCode != http.StatusOK {
			t.Errorf("GET http /health = %d, want 200 (health checks speak plain HTTP)", resp.StatusCode)
		}
		// No challenge is pending: whoever answers it, it is not a redirect.
		resp := do(http.MethodGet, plain+"/.well-known/acme-challenge/e2e-token", "")
		if resp.StatusCode == http.StatusPermanentRedirect || resp.Header.Get("Location") != "" {
			t.Errorf("GET http ACME challenge = %d Location %q, want it served on plain HTTP", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("HTTPS serves the given certificate", func(t *testing.T) {
		resp := do(http.MethodGet, base+"/api/status", "")
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			t.Fatal("no TLS connection state")
		}
		leaf := resp.TLS.PeerCertificates[0]
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		host := u.Hostname()
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host}); err != nil {
			t.Errorf("the lb's certificate (%s) does not verify against E2E_TLS_CA for %s: %v", leaf.Subject, host, err)
		}
		t.Logf("the lb serves %q issued by %q, until %s, over %s", leaf.Subject, leaf.Issuer, leaf.NotAfter.Format(time.DateOnly), resp.Proto)
	})

	t.Run("HSTS on every HTTPS answer", func(t *testing.T) {
		for _, path := range []string{"/api/status", "/", "/metrics", "/health", "/api/inventory/nonexistent"} {
			resp := do(http.MethodGet, base+path, "")
			// The lb's, or the api's own when it sent one (it too sees https).
			v := resp.Header.Get("Strict-Transport-Security")
			first, _, _ := strings.Cut(v, ";")
			age, err := strconv.Atoi(strings.TrimPrefix(first, "max-age="))
			if !strings.HasPrefix(first, "max-age=") || err != nil || age < 180*24*3600 {
				t.Errorf("GET https %s (%d): Strict-Transport-Security %q, want max-age of half a year or more", path, resp.StatusCode, v)
			}
		}
	})

	t.Run("sign-in over HTTPS sets a Secure cookie", func(t *testing.T) {
		resp := do(http.MethodPost, base+"/api/auth/login", string(login))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST https /api/auth/login = %d, want 200", resp.StatusCode)
		}
		var session *http.Cookie
		for _, ck := range resp.Cookies() {
			if strings.HasSuffix(ck.Name, "dex_session") {
				session = ck
			}
		}
		switch {
		case session == nil:
			t.Fatalf("no session cookie in %q", resp.Header.Values("Set-Cookie"))
		case !session.Secure || session.Name != "__Host-dex_session" || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode:
			t.Errorf("session cookie %q, want __Host-dex_session, Secure, HttpOnly, SameSite=Strict (the api believes the lb's X-Forwarded-Proto)", session.String())
		}
	})
}
