package proxy

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// holdEvents answers an event stream that stays open until the client
// or the test goes away.
func holdEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, "data: hello\n\n")
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// openStream opens /api/events as client (X-Forwarded-For through a
// trusted peer) and returns the response once its header arrived; an open
// stream's first event has been read.
func openStream(t *testing.T, url, client string, accept bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url+"/api/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-For", client)
	if accept {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode == http.StatusOK {
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			t.Fatalf("reading the first event: %v", err)
		}
	}
	return resp
}

func TestEventStreamsAreCappedPerClient(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 2, trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for _, b := range h.backends {
		b.set(holdEvents)
	}
	h.streams.Limit(100, 2)
	srv := h.server()
	var first *http.Response
	for i := range 2 {
		resp := openStream(t, srv.URL, "203.0.113.1", true)
		if resp.StatusCode != 200 {
			t.Fatalf("stream %d of the client: status %d, want 200", i+1, resp.StatusCode)
		}
		first = cmp.Or(first, resp)
	}
	hitsBefore := h.backends[0].hits.Load() + h.backends[1].hits.Load()
	tests := []struct {
		name     string
		client   string
		accept   bool
		want     int
		backends int64 // requests the backends see
	}{
		// EventSource says what it wants: refused before any backend sees it.
		{"a third stream of the client", "203.0.113.1", true, 429, 0},
		// Without the Accept header the answer gives it away.
		{"a third stream without Accept", "203.0.113.1", false, 429, 1},
		{"another client", "203.0.113.2", true, 200, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := openStream(t, srv.URL, tt.client, tt.accept)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 429 {
				body, _ := io.ReadAll(resp.Body)
				if resp.Header.Get("Content-Type") != "application/problem+json" || resp.Header.Get("Retry-After") == "" {
					t.Errorf("429 with Content-Type %q, Retry-After %q, body %s; want problem+json with Retry-After",
						resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
				}
			}
			hits := h.backends[0].hits.Load() + h.backends[1].hits.Load()
			if hits-hitsBefore != tt.backends {
				t.Errorf("the backends saw %d requests, want %d", hits-hitsBefore, tt.backends)
			}
			hitsBefore = hits
		})
	}

	// A client that closes a stream has its slot back at once, not at the
	// backend's next event.
	first.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for openStream(t, srv.URL, "203.0.113.1", true).StatusCode != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the stream the client closed still holds its slot")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Streams last as long as their clients like: they must not hold the
// in-flight slots (the lb's, a backend's) that ordinary requests need.
func TestStreamsDoNotTakeTheSlotsOfOrdinaryRequests(t *testing.T) {
	h := newHarness(t, harnessOpts{n: 1, perCap: 2, edge: EdgeOptions{MaxInFlight: 2},
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	h.backends[0].set(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/events" {
			holdEvents(w, r)
			return
		}
		fmt.Fprint(w, "ok")
	})
	srv := h.server()
	for i := range 3 {
		if resp := openStream(t, srv.URL, fmt.Sprintf("203.0.113.%d", i+1), true); resp.StatusCode != 200 {
			t.Fatalf("stream %d: status %d, want 200 (streams have slots of their own)", i+1, resp.StatusCode)
		}
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(srv.URL + "/api/items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("an ordinary request beside 3 streams: status %d %s, want 200", resp.StatusCode, body)
	}
}
