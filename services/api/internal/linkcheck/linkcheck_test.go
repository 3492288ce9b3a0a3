package linkcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/linkcheck"
	"github.com/docker-examples/stack/services/api/internal/netguard"
)

// allowLoopback is LINK_CHECK_ALLOW=127.0.0.1/32: the test servers live
// there. Refusal is proved separately, without it.
var allowLoopback = &netguard.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

func TestCheck(t *testing.T) {
	var hugeWritten atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) })
	mux.HandleFunc("/get-only", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		buf := make([]byte, 32<<10)
		for range 2048 { // 64 MiB
			n, err := w.Write(buf)
			hugeWritten.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/hop/", func(w http.ResponseWriter, r *http.Request) {
		var n int
		for _, c := range strings.TrimPrefix(r.URL.Path, "/hop/") {
			n = n*10 + int(c-'0')
		}
		if n == 0 {
			return
		}
		http.Redirect(w, r, "/hop/"+string(rune('0'+n-1)), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-localhost", func(w http.ResponseWriter, r *http.Request) {
		// loopback, but not the one address the allow list names
		http.Redirect(w, r, "http://127.0.0.2:1/", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	c := linkcheck.New(linkcheck.Config{Guard: allowLoopback, Timeout: 2 * time.Second, BreakerFailures: 100})
	tests := []struct {
		path      string
		state     string
		status    int
		finalPath string
		errPart   string
	}{
		{"/ok", inventory.LinkOK, 200, "/ok", ""},
		{"/missing", inventory.LinkBroken, 404, "/missing", "404"},
		{"/boom", inventory.LinkBroken, 502, "/boom", "502"},
		{"/get-only", inventory.LinkOK, 200, "/get-only", ""},
		{"/huge", inventory.LinkOK, 200, "/huge", ""},
		{"/slow", inventory.LinkBroken, 0, "", "timed out"},
		{"/hop/5", inventory.LinkOK, 200, "/hop/0", ""},
		{"/hop/6", inventory.LinkBroken, 0, "", "redirects"},
		{"/loop", inventory.LinkBroken, 0, "", "redirects"},
		{"/to-metadata", inventory.LinkRefused, 0, "", "refused"},
		{"/to-localhost", inventory.LinkRefused, 0, "", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got := c.Check(context.Background(), srv.URL+tt.path)
			if got.State != tt.state || got.Status != tt.status {
				t.Fatalf("got state %q status %d (%s), want %q %d", got.State, got.Status, got.Error, tt.state, tt.status)
			}
			if tt.finalPath != "" && got.FinalURL != srv.URL+tt.finalPath {
				t.Errorf("final_url = %q, want %q", got.FinalURL, srv.URL+tt.finalPath)
			}
			if !strings.Contains(got.Error, tt.errPart) {
				t.Errorf("error = %q, want it to mention %q", got.Error, tt.errPart)
			}
			if got.CheckedAt == nil {
				t.Error("checked_at missing")
			}
		})
	}
	if n := hugeWritten.Load(); n >= 64<<20 {
		t.Errorf("the server wrote its whole 64 MiB body (%d bytes): the checker read past its limit", n)
	}
}

func TestCheckRefusesWithoutAllowList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := linkcheck.New(linkcheck.Config{Timeout: 2 * time.Second})
	for _, u := range []string{
		srv.URL,                          // 127.0.0.1, a live server
		"http://[::1]:" + port + "/",     // IPv6 loopback
		"http://169.254.169.254/latest/", // cloud metadata
		"http://localhost:" + port + "/", // a name resolving to loopback
		"http://10.1.2.3/",               // private
		"http://[fd00::1]/",              // unique-local
		"http://[fe80::1]/",              // link-local
	} {
		t.Run(u, func(t *testing.T) {
			got := c.Check(context.Background(), u)
			if got.State != inventory.LinkRefused {
				t.Fatalf("state = %q (%s), want refused", got.State, got.Error)
			}
		})
	}
}

func TestCircuitBreaker(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(503)
	}))
	defer srv.Close()
	c := linkcheck.New(linkcheck.Config{Guard: allowLoopback, BreakerFailures: 3})
	for range 3 {
		c.Check(context.Background(), srv.URL)
	}
	before := hits.Load()
	got := c.Check(context.Background(), srv.URL+"/other")
	if hits.Load() != before {
		t.Errorf("an open breaker still sent a request")
	}
	if got.State != inventory.LinkBroken || !strings.Contains(got.Error, "in a row") {
		t.Errorf("got %+v", got)
	}
}

func TestPerHostConcurrency(t *testing.T) {
	var cur, peak atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		cur.Add(-1)
	}))
	defer srv.Close()
	c := linkcheck.New(linkcheck.Config{Guard: allowLoopback, PerHost: 2})
	urls := make([]string, 6)
	for i := range urls {
		urls[i] = srv.URL + "/" + string(rune('a'+i))
	}
	done := make(chan []inventory.LinkResult)
	go func() { done <- c.CheckAll(context.Background(), urls) }()
	deadline := time.Now().Add(5 * time.Second)
	for cur.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	res := <-done
	if p := peak.Load(); p > 2 {
		t.Errorf("peak concurrency on one host = %d, want at most 2", p)
	}
	for _, r := range res {
		if r.State != inventory.LinkOK {
			t.Errorf("%s: %+v", r.URL, r)
		}
	}
}
