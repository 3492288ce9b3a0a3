package events

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// holdingStream serves a stream until release is closed.
type holdingStream struct {
	started chan struct{}
	release chan struct{}
}

func (h holdingStream) ServeEvents(w http.ResponseWriter, r *http.Request) error {
	h.started <- struct{}{}
	<-h.release
	return nil
}

// One address can hold at most max streams; another address is not
// affected, and a closed stream frees its place.
func TestLimitPerClient(t *testing.T) {
	h := holdingStream{started: make(chan struct{}), release: make(chan struct{})}
	ip := func(r *http.Request) netip.Addr { return netip.MustParseAddrPort(r.RemoteAddr).Addr() }
	s := LimitPerClient(h, ip, 2)
	serve := func(peer string) (chan error, *httptest.ResponseRecorder) {
		req := httptest.NewRequest("GET", "/api/events", nil)
		req.RemoteAddr = peer + ":5000"
		rec := httptest.NewRecorder()
		done := make(chan error, 1)
		go func() { done <- s.ServeEvents(rec, req) }()
		return done, rec
	}
	var open []chan error
	for range 2 {
		done, _ := serve("203.0.113.1")
		<-h.started
		open = append(open, done)
	}
	done, rec := serve("203.0.113.1")
	select {
	case err := <-done:
		if !errors.Is(err, ratelimit.ErrLimited) || rec.Header().Get("Retry-After") == "" {
			t.Errorf("third stream from one address: %v, Retry-After %q; want ErrLimited (429) with Retry-After", err, rec.Header().Get("Retry-After"))
		}
	case <-h.started:
		t.Fatal("a third stream from one address started")
	}
	other, _ := serve("203.0.113.2")
	select {
	case <-h.started:
	case <-time.After(5 * time.Second):
		t.Fatal("another address's stream did not start")
	}
	close(h.release)
	for _, d := range append(open, other) {
		if err := <-d; err != nil {
			t.Errorf("stream ended with %v", err)
		}
	}
	if n := s.(*PerClient).Open(netip.MustParseAddr("203.0.113.1")); n != 0 {
		t.Errorf("open streams after they ended: %d, want 0", n)
	}
}
