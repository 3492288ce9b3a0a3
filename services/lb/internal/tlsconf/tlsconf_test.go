package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func writePair(t *testing.T, dir, name string, mod time.Time) {
	t.Helper()
	c, err := SelfSigned([]string{name}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(dir, "cert.pem")
	keyf := filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(keyf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	os.Chtimes(cert, mod, mod)
	os.Chtimes(keyf, mod, mod)
}

func TestReloadsChangedCertificate(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "first.test", time.Now().Add(-time.Hour))
	r, err := NewReloader(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	r.CheckEvery = 0
	names := func() []string {
		c, _ := r.GetCertificate(nil)
		return c.Leaf.DNSNames
	}
	if got := names(); got[1] != "first.test" {
		t.Fatalf("names %v, want first.test", got)
	}
	writePair(t, dir, "second.test", time.Now())
	if got := names(); got[1] != "second.test" {
		t.Errorf("after rotation names %v, want second.test", got)
	}
	// A broken rotation keeps the previous certificate.
	os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("not a certificate"), 0o600)
	if got := names(); got[1] != "second.test" {
		t.Errorf("after a broken rotation names %v, want second.test kept", got)
	}
}

func TestMissingFilesStopTheStart(t *testing.T) {
	_, err := NewReloader("/nonexistent/cert.pem", "/nonexistent/key.pem", slog.Default())
	if err == nil {
		t.Fatal("NewReloader with missing files = nil error")
	}
}

func TestServesHTTP2WithTLS12AndUp(t *testing.T) {
	cert, err := SelfSigned(nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.TLS = Config(func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil })
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	client := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Errorf("protocol %q, want HTTP/2.0", body)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(srv.URL); err == nil {
		t.Errorf("TLS 1.1 client accepted")
	}
}
