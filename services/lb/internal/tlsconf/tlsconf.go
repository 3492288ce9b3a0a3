// Package tlsconf builds the lb's TLS configuration: TLS 1.2 and up,
// HTTP/2 and HTTP/1.1 by ALPN, the certificate read from files (Docker
// secrets) and reloaded when they change, or a self-signed development
// certificate when no files are given.
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config returns a server TLS configuration whose certificate comes from
// getCert.
func Config(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: getCert,
	}
}

// Reloader serves the certificate in CertFile/KeyFile and reloads it when
// either file's modification time or size changes, checking at most once
// per CheckEvery. A broken new pair is logged and the old one kept. Safe
// for concurrent use.
type Reloader struct {
	CertFile, KeyFile string
	CheckEvery        time.Duration
	Log               *slog.Logger

	cert      atomic.Pointer[tls.Certificate]
	lastCheck atomic.Int64
	mu        sync.Mutex
	stamp     string
}

// NewReloader loads the pair once; an error here stops the lb.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{CertFile: certFile, KeyFile: keyFile, CheckEvery: time.Second, Log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.lastCheck.Store(time.Now().UnixNano())
	return r, nil
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if last := r.lastCheck.Load(); now-last >= int64(r.CheckEvery) && r.lastCheck.CompareAndSwap(last, now) {
		r.maybeReload()
	}
	return r.cert.Load(), nil
}

func (r *Reloader) maybeReload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.fileStamp()
	if err != nil || s == r.stamp {
		return
	}
	if err := r.loadLocked(s); err != nil {
		r.Log.Error("TLS certificate changed but cannot be loaded, keeping the previous one", "cert_file", r.CertFile, "err", err)
		return
	}
	r.Log.Info("TLS certificate reloaded", "cert_file", r.CertFile, "not_after", r.cert.Load().Leaf.NotAfter)
}

func (r *Reloader) load() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.fileStamp()
	if err != nil {
		return err
	}
	return r.loadLocked(s)
}

func (r *Reloader) loadLocked(stamp string) error {
	c, err := tls.LoadX509KeyPair(r.CertFile, r.KeyFile)
	if err != nil {
		return fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	r.cert.Store(&c)
	r.stamp = stamp
	return nil
}

// fileStamp identifies the current contents of both files cheaply.
func (r *Reloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.CertFile, r.KeyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
		}
		s += fmt.Sprintf("%s:%d:%d;", f, fi.ModTime().UnixNano(), fi.Size())
	}
	return s, nil
}

// SelfSigned makes a development certificate for localhost, the loopback
// addresses and names, valid for 30 days from now. Browsers will warn:
// that is the point, it must never pass for production.
func SelfSigned(names []string, now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "docker-examples lb development certificate", Organization: []string{"docker-examples (self-signed, not for production)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              append([]string{"localhost"}, names...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
