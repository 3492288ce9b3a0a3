package serve_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
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
