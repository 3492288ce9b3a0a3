package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/serve"
)

// TestServeFinishesInFlightRequests checks the promise users rely on during a
// rolling update: a request that started before SIGTERM still gets its answer.
func TestServeFinishesInFlightRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := serve.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	release := make(chan struct{})
	var drained atomic.Bool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		_, _ = io.WriteString(w, "done")
	})
	done := make(chan error, 1)
	go func() {
		done <- serve.Serve(ctx, ln, h, slog.New(slog.DiscardHandler), serve.Options{OnDrain: func() { drained.Store(true) }})
	}()

	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		resc <- result{string(b), err}
	}()
	<-started
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for !drained.Load() {
		if time.Now().After(deadline) {
			t.Fatal("OnDrain never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)

	res := <-resc
	if res.err != nil || res.body != "done" {
		t.Fatalf("in-flight request: got (%q, %v), want (\"done\", nil)", res.body, res.err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Fatal("server still accepts connections after shutdown")
	}
}

// A request header past 16 KiB (20 KiB with net/http's slack) is refused
// with 431 before the handler runs; a browser-sized one is served.
func TestServeCapsRequestHeaders(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := serve.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handled.Add(1) })
	done := make(chan error, 1)
	go func() { done <- serve.Serve(ctx, ln, h, slog.New(slog.DiscardHandler), serve.Options{}) }()
	get := func(size int) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
		req.Header.Set("X-Junk", strings.Repeat("a", size))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(12 << 10); got != http.StatusOK {
		t.Errorf("12 KiB header: %d, want 200", got)
	}
	for _, size := range []int{24 << 10, 1 << 20} {
		if got := get(size); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%d KiB header: %d, want 431", size>>10, got)
		}
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handler ran %d times, want once (the 12 KiB request)", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
