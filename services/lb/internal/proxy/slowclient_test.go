package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// A client that trickles its request body gets 408 once the body timeout
// passes, and no backend ever holds a slot for it: a body that fits in
// memory is read whole before a backend is picked.
func TestSlowRequestBodyHoldsNoBackend(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, opts: Options{BodyTimeout: 300 * time.Millisecond}})
	srv := h.server()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	// 10 of the 100 bytes announced, then nothing.
	fmt.Fprint(c, "POST /api/items HTTP/1.1\r\nHost: lb\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":\"x")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to the slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
	if got := h.backends[0].hits.Load(); got != 0 {
		t.Errorf("the backend saw %d requests, want 0", got)
	}
}

// slowChunks writes a chunked body a little at a time until the client
// goes away.
func slowChunks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "{\"n\":%d}\n", i); err != nil {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// A chunked answer that is not an event stream keeps the server's write
// deadline: a download that never ends (or a client that reads it as
// slowly as it likes) does not hold the connection for ever.
func TestUnsizedBodyKeepsTheWriteDeadline(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	h.backends[0].set(slowChunks)
	srv := httptest.NewUnstartedServer(h.handler)
	srv.Config.WriteTimeout = 500 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(srv.URL + "/api/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("reading the endless body ended with %v; want the lb to cut it at its write deadline", err)
	}
}

// A graceful stop lets an ordinary chunked answer finish: ending it early
// with a clean last chunk would pass a truncated body off as complete.
func TestShutdownLetsUnsizedBodiesFinish(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1})
	release := make(chan struct{})
	h.backends[0].set(flushedThenReleased("application/x-ndjson", "{\"n\":1}\n", "{\"n\":2}\n", release))
	srv := h.server()
	client := &http.Client{Timeout: 30 * time.Second}
	br, line, err := getFirstLine(t, client, srv.URL+"/api/export")
	if err != nil || line != "{\"n\":1}\n" {
		t.Fatalf("first line = %q, %v", line, err)
	}
	h.streams.CloseAll() // what the lb's shutdown does
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "{\"n\":2}\n" {
		t.Errorf("after the stop began: rest %q, %v; want the body's end", rest, err)
	}
}

// One client address cannot hold more than its share of requests in
// flight: beyond it a fast 429, while other clients are served.
func TestRequestsInFlightPerClientAreCapped(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, edge: EdgeOptions{MaxInFlightPerClient: 2},
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	release := make(chan struct{})
	defer close(release)
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/slow" {
			<-release
		}
		fmt.Fprint(w, "ok")
	})
	srv := h.server()
	get := func(path, client string) int {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Errorf("GET %s as %s: %v", path, client, err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 2 {
		go get("/api/slow", "203.0.113.1")
	}
	deadline := time.Now().Add(10 * time.Second)
	for h.backends[0].hits.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two slow requests never reached the backend")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := get("/api/fast", "203.0.113.1"); got != http.StatusTooManyRequests {
		t.Errorf("a third request of the busy client: status %d, want 429", got)
	}
	if got := get("/api/fast", "203.0.113.2"); got != http.StatusOK {
		t.Errorf("another client: status %d, want 200", got)
	}
}
