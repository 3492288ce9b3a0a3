package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/health"
)

// frozenBackend is a real TCP server that accepts connections and reads
// requests but answers none until released, as a paused machine does:
// its kernel still completes handshakes and takes the bytes, its process
// never runs. Health checks to it time out.
type frozenBackend struct {
	addr    netip.AddrPort
	got     chan string // the method of each request it read (not /health)
	release chan struct{}
	once    sync.Once
}

func newFrozenBackend(t *testing.T) *frozenBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &frozenBackend{addr: netip.MustParseAddrPort(ln.Addr().String()), got: make(chan string, 16), release: make(chan struct{})}
	done := make(chan struct{})
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		close(done)
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if req.URL.Path != "/health" {
						fb.got <- req.Method
					}
					select {
					case <-fb.release:
						fmt.Fprint(c, "HTTP/1.1 200 OK\r\nX-Backend: frozen\r\nContent-Length: 6\r\n\r\nfrozen")
					case <-done:
						return
					}
				}
			}()
		}
	}()
	return fb
}

// thaw lets the frozen backend answer.
func (fb *frozenBackend) thaw() { fb.once.Do(func() { close(fb.release) }) }

type answer struct {
	code    int
	backend string
	body    string
}

// onFrozen adds fb to the harness's pool and sends requests made by req
// until one is held by fb (round-robin alternates); it returns the
// channel that gets that request's answer.
func onFrozen(t *testing.T, h *harness, fb *frozenBackend, req func() *http.Request) (<-chan answer, *balancer.Backend) {
	t.Helper()
	addrs := []netip.AddrPort{fb.addr}
	for _, b := range h.backends {
		addrs = append(addrs, b.addr)
	}
	h.pool.Update(addrs, time.Now())
	var frozen *balancer.Backend
	for _, b := range h.pool.Backends() {
		if b.Addr == fb.addr {
			frozen = b
		}
	}
	for range len(addrs) {
		done := make(chan answer, 1)
		go func() {
			w := h.serve(req())
			done <- answer{w.Code, w.Header().Get("X-Backend"), w.Body.String()}
		}()
		select {
		case <-fb.got:
			return done, frozen
		case a := <-done:
			if a.code != http.StatusOK {
				t.Fatalf("a request to a live backend got %d %s", a.code, a.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no request reached any backend")
		}
	}
	t.Fatal("no request reached the frozen backend")
	return nil, nil
}

// markDown marks b down the way the lb does in production.
var markDown = map[string]func(t *testing.T, h *harness, b *balancer.Backend){
	// Its active health check times out (the frozen backend never
	// answers it) and, with Fall 1, marks it down.
	"health check": func(t *testing.T, h *harness, b *balancer.Backend) {
		chk := &health.Checker{Pool: h.pool, Path: "/health", Timeout: 50 * time.Millisecond, Rise: 1, Fall: 1,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if got := chk.Probe(t.Context(), b); got != health.Failure || !b.Down() {
			t.Fatalf("probe of the frozen backend: outcome %v, down %v; want a failure that marks it down", got, b.Down())
		}
	},
	// Passive health: another request's failure ejects it.
	"ejection": func(t *testing.T, h *harness, b *balancer.Backend) {
		if h.fwd.opts.Ejector.Failure(b, time.Now()) == 0 {
			t.Fatal("the failure did not eject the backend")
		}
	},
}

// A request waiting for the answer of a backend that froze moves to
// another backend as soon as the frozen one is marked down, when it may be
// sent again; one that may not waits for its own backend's answer, since
// the backend may have acted on it.
func TestInFlightRequestsLeaveABackendMarkedDown(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
		body   string
		moves  bool
	}{
		{"GET", "GET", nil, "", true},
		{"HEAD", "HEAD", nil, "", true},
		{"PUT with a body", "PUT", nil, `{"name":"x"}`, true},
		{"POST with Idempotency-Key", "POST", http.Header{"Idempotency-Key": {`"k1"`}}, `{"name":"x"}`, true},
		{"POST", "POST", nil, `{"name":"x"}`, false},
	}
	for how, mark := range markDown {
		for _, tt := range tests {
			t.Run(how+"/"+tt.name, func(t *testing.T) {
				// The upstream timeout is far beyond the test's patience:
				// only giving up on the frozen backend answers in time.
				h := newHarness(t, harnessOpts{n: 1, opts: Options{UpstreamTimeout: 10 * time.Minute,
					Ejector: balancer.Ejector{After: 1, Base: time.Hour, Max: time.Hour}}})
				fb := newFrozenBackend(t)
				done, frozen := onFrozen(t, h, fb, func() *http.Request {
					r := httptest.NewRequest(tt.method, "/api/items", strings.NewReader(tt.body))
					for k, v := range tt.header {
						r.Header[k] = v
					}
					return r
				})
				mark(t, h, frozen)
				if !tt.moves {
					select {
					case a := <-done:
						t.Fatalf("the %s was answered %d by %q while its backend still held it; want it to wait for that backend", tt.method, a.code, a.backend)
					case <-time.After(200 * time.Millisecond):
					}
					fb.thaw()
				}
				var a answer
				select {
				case a = <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("the %s still waits on the frozen backend after it was marked down", tt.method)
				}
				want := answer{200, "a", "a " + tt.method + " /api/items"}
				if !tt.moves {
					want = answer{200, "frozen", "frozen"}
				}
				if tt.method == "HEAD" {
					want.body = ""
				}
				if a != want {
					t.Errorf("answer = %+v, want %+v", a, want)
				}
				if tt.moves && tt.body != "" {
					if got := h.backends[0].bodies[len(h.backends[0].bodies)-1]; got != tt.body {
						t.Errorf("the retry carried body %q, want %q", got, tt.body)
					}
				}
			})
		}
	}
}

// With no other backend to go to, a request is not given up: its
// backend's late answer is better than a certain error.
func TestInFlightRequestStaysWhenNoOtherBackendIsAvailable(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 0, opts: Options{UpstreamTimeout: 10 * time.Minute}})
	fb := newFrozenBackend(t)
	done, frozen := onFrozen(t, h, fb, func() *http.Request { return httptest.NewRequest("GET", "/api/items", nil) })
	markDown["health check"](t, h, frozen)
	select {
	case a := <-done:
		t.Fatalf("answered %d %s with no other backend; want the request to wait for its own", a.code, a.body)
	case <-time.After(200 * time.Millisecond):
	}
	fb.thaw()
	if a := <-done; a != (answer{200, "frozen", "frozen"}) {
		t.Errorf("answer = %+v, want the frozen backend's late 200", a)
	}
}

// A connect still in progress to a backend marked down ends at once, for
// any method (nothing was sent), and the request goes to another backend.
func TestConnectToABackendMarkedDownMovesOn(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 2, opts: Options{UpstreamTimeout: 10 * time.Minute}})
	dialing := make(chan struct{}, 1)
	first := h.pool.Backends()[0]
	first.Data.(*backendData).conns.dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
		dialing <- struct{}{}
		<-ctx.Done() // a SYN nobody answers
		return nil, ctx.Err()
	}
	done := make(chan answer, 1)
	go func() {
		w := h.serve(httptest.NewRequest("POST", "/api/items", strings.NewReader("x")))
		done <- answer{w.Code, w.Header().Get("X-Backend"), w.Body.String()}
	}()
	select {
	case <-dialing:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never tried the first backend")
	}
	first.SetDown(true, time.Now())
	select {
	case a := <-done:
		if a != (answer{200, "b", "b POST /api/items"}) {
			t.Errorf("answer = %+v, want b's 200", a)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the POST still waits on a connect to the backend marked down")
	}
}

// An event stream from a backend marked down ends cleanly, so that the
// browser's EventSource reconnects (to a backend that is up).
func TestEventStreamFromABackendMarkedDownEndsPolitely(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].set(holdEvents)
	srv := h.server()
	// The client gives up long after a polite end would have come.
	client := &http.Client{Timeout: 30 * time.Second}
	br, _, err := getFirstLine(t, client, srv.URL+"/api/events")
	if err != nil {
		t.Fatal(err)
	}
	h.pool.Backends()[0].SetDown(true, time.Now())
	wantCleanEnd(t, br)
}
