package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

// replica is one API instance's event side: a publisher, a running broker,
// and an HTTP server for GET /api/events.
type replica struct {
	pub    *events.Publisher
	broker *events.Broker
	srv    *httptest.Server
}

func newReplica(t *testing.T, r *faultredis.Redis, name string, opts events.Options, configure ...func(*http.Server)) replica {
	t.Helper()
	rdb := r.Client(t)
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 50 * time.Millisecond
	}
	if opts.Block == 0 {
		opts.Block = 100 * time.Millisecond
	}
	b := events.NewBroker(rdb, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := b.ServeEvents(w, req); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	for _, f := range configure {
		f(srv.Config)
	}
	srv.Start()
	t.Cleanup(func() {
		b.Shutdown()
		srv.Close()
		cancel()
		<-done
	})
	return replica{pub: events.NewPublisher(rdb, "", 0, name), broker: b, srv: srv}
}

// message is one SSE message, or one comment.
type message struct {
	ID, Event, Data, Comment string
}

// client is a browser's EventSource, reduced to what the tests look at.
type client struct {
	msgs chan message
	done chan struct{}
	resp *http.Response
}

func connect(t *testing.T, url, lastEventID string) *client {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &client{msgs: make(chan message, 1000), done: make(chan struct{}), resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(resp.Body)
		var m message
		fields := false
		for sc.Scan() {
			line := sc.Text()
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch {
			case line == "":
				if fields {
					c.msgs <- m
				}
				m, fields = message{}, false
			case name == "":
				c.msgs <- message{Comment: value}
			case name == "id":
				m.ID, fields = value, true
			case name == "event":
				m.Event, fields = value, true
			case name == "data":
				m.Data, fields = value, true
			}
		}
	}()
	return c
}

// next returns the next message that is an event or an id, skipping
// comments and retry fields.
func (c *client) next(t *testing.T) message {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if m.Comment == "" && m.ID != "" {
				return m
			}
		case <-c.done:
			t.Fatal("stream ended")
		case <-deadline:
			t.Fatal("no event within 10s")
		}
	}
}

// ready reads the id-only message a stream without Last-Event-ID starts
// with, so the caller knows the stream is live.
func (c *client) ready(t *testing.T) string {
	t.Helper()
	m := c.next(t)
	if m.Event != "" || m.Data != "" {
		t.Fatalf("first message = %+v, want an id-only message", m)
	}
	return m.ID
}

func publish(t *testing.T, p *events.Publisher, typ, id string) events.ID {
	t.Helper()
	var item any
	if typ != events.ItemDeleted {
		item = map[string]string{"id": id, "name": "item " + id}
	}
	eid, err := p.Publish(context.Background(), typ, id, item)
	if err != nil {
		t.Fatal(err)
	}
	return eid
}

func TestWriteOnOneReplicaReachesBrowsersOnAnother(t *testing.T) {
	r := faultredis.New(t)
	r1 := newReplica(t, r, "api-1", events.Options{})
	r3 := newReplica(t, r, "api-3", events.Options{})
	c := connect(t, r3.srv.URL, "")
	c.ready(t)

	created := publish(t, r1.pub, events.ItemCreated, "a")
	deleted := publish(t, r1.pub, events.ItemDeleted, "a")

	m := c.next(t)
	if m.ID != created.String() || m.Event != events.ItemCreated {
		t.Errorf("first event = %+v, want %s %s", m, events.ItemCreated, created)
	}
	var data struct {
		ID         string          `json:"id"`
		Item       json.RawMessage `json:"item"`
		InstanceID string          `json:"instance_id"`
	}
	if err := json.Unmarshal([]byte(m.Data), &data); err != nil {
		t.Fatalf("data %q: %v", m.Data, err)
	}
	if data.ID != "a" || data.InstanceID != "api-1" || len(data.Item) == 0 {
		t.Errorf("data = %s, want id a, instance api-1 and the item", m.Data)
	}
	m = c.next(t)
	if m.ID != deleted.String() || m.Event != events.ItemDeleted || strings.Contains(m.Data, `"item"`) {
		t.Errorf("second event = %+v, want a delete without item", m)
	}
}

func TestLastEventIDResumes(t *testing.T) {
	tests := []struct {
		name string
		ring int
	}{
		{"from memory", 100},
		{"from redis when further behind than the ring", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			rp := newReplica(t, r, "api-1", events.Options{RingSize: tc.ring})
			c := connect(t, rp.srv.URL, "")
			c.ready(t)
			first := publish(t, rp.pub, events.ItemCreated, "1")
			if got := c.next(t).ID; got != first.String() {
				t.Fatalf("got %s, want %s", got, first)
			}
			c.resp.Body.Close() // the browser loses its connection...

			var missed []string
			for _, id := range []string{"2", "3", "4", "5"} {
				missed = append(missed, publish(t, rp.pub, events.ItemUpdated, id).String())
			}
			// ...and reconnects with the last id it saw.
			c = connect(t, rp.srv.URL, first.String())
			for _, want := range missed {
				if got := c.next(t); got.ID != want {
					t.Fatalf("resumed stream gave %+v, want id %s", got, want)
				}
			}
			next := publish(t, rp.pub, events.ItemDeleted, "1")
			if got := c.next(t); got.ID != next.String() {
				t.Errorf("after catching up got %+v, want %s", got, next)
			}
		})
	}
}

func TestHeartbeats(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{Heartbeat: 20 * time.Millisecond})
	c := connect(t, rp.srv.URL, "")
	deadline := time.After(10 * time.Second)
	for pings := 0; pings < 3; {
		select {
		case m := <-c.msgs:
			if m.Comment == "ping" {
				pings++
			}
		case <-deadline:
			t.Fatal("fewer than 3 heartbeats in 10s")
		}
	}
}

// The server's timeouts, right for ordinary requests, must not cut a
// stream: it outlives several of them and still delivers.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	r := faultredis.New(t)
	const timeout = 200 * time.Millisecond
	rp := newReplica(t, r, "api-1", events.Options{Heartbeat: 50 * time.Millisecond}, func(s *http.Server) {
		s.ReadTimeout = timeout
		s.WriteTimeout = timeout
	})
	c := connect(t, rp.srv.URL, "")
	c.ready(t)
	start := time.Now()
	for time.Since(start) < 5*timeout {
		select {
		case <-c.msgs: // heartbeats
		case <-c.done:
			t.Fatalf("stream cut after %s", time.Since(start))
		}
	}
	id := publish(t, rp.pub, events.ItemCreated, "late")
	if got := c.next(t); got.ID != id.String() {
		t.Errorf("got %+v, want %s", got, id)
	}
}

func TestStreamSurvivesRedisOutage(t *testing.T) {
	tests := []struct {
		name     string
		loseData bool
	}{
		{"redis unreachable, then back", false},
		{"redis restarted empty", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := faultredis.New(t)
			rp := newReplica(t, r, "api-1", events.Options{})
			writer := events.NewPublisher(r.Direct(), "", 0, "api-2") // another replica, not cut off
			c := connect(t, rp.srv.URL, "")
			c.ready(t)
			before := publish(t, writer, events.ItemCreated, "1")
			if got := c.next(t); got.ID != before.String() {
				t.Fatalf("got %+v, want %s", got, before)
			}

			r.Stop()
			// The stream stays open: heartbeats keep coming.
			for pings := 0; pings < 3; {
				select {
				case m := <-c.msgs:
					if m.Comment == "ping" {
						pings++
					}
				case <-c.done:
					t.Fatal("stream ended while Redis was down")
				case <-time.After(10 * time.Second):
					t.Fatal("no heartbeats while Redis was down")
				}
			}
			if tc.loseData {
				if err := r.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			r.Start()

			after := publish(t, writer, events.ItemUpdated, "1")
			if got := c.next(t); got.ID != after.String() || got.Event != events.ItemUpdated {
				t.Errorf("after Redis returned got %+v, want %s", got, after)
			}
		})
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{})
	c := connect(t, rp.srv.URL, "")
	c.ready(t)
	rp.broker.Shutdown()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after Shutdown")
	}
	// And a stream opened after Shutdown ends at once.
	c = connect(t, rp.srv.URL, "")
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream opened after Shutdown stays open")
	}
}

func TestPublishWithRedisDown(t *testing.T) {
	r := faultredis.New(t)
	p := events.NewPublisher(r.Client(t), "", 0, "api-1")
	r.Stop()
	if _, err := p.Publish(context.Background(), events.ItemCreated, "1", nil); err == nil {
		t.Error("Publish with Redis down returned nil")
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want events.ID
		ok   bool
	}{
		{"1700000000000-0", events.ID{Ms: 1700000000000}, true},
		{"0-0", events.ID{}, true},
		{"18446744073709551615-18446744073709551615", events.ID{Ms: 1<<64 - 1, Seq: 1<<64 - 1}, true},
		{"18446744073709551616-0", events.ID{}, false},
		{"", events.ID{}, false},
		{"1700000000000", events.ID{}, false},
		{"-1-0", events.ID{}, false},
		{"+1-0", events.ID{}, false},
		{"1-0-0", events.ID{}, false},
		{" 1-0", events.ID{}, false},
		{"$", events.ID{}, false},
		{"1-x", events.ID{}, false},
	}
	for _, tc := range tests {
		got, err := events.ParseID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseID(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestLastEventIDSources(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/api/events?last_event_id=5-0", nil)
	if id, ok := events.LastEventID(req); !ok || id != (events.ID{Ms: 5}) {
		t.Errorf("from the query: %v %v", id, ok)
	}
	req.Header.Set("Last-Event-ID", "7-1")
	if id, ok := events.LastEventID(req); !ok || id != (events.ID{Ms: 7, Seq: 1}) {
		t.Errorf("the header wins: %v %v", id, ok)
	}
	req.Header.Set("Last-Event-ID", "garbage")
	if _, ok := events.LastEventID(req); ok {
		t.Error("garbage accepted")
	}
}

// FuzzParseID: no panic, and every accepted id prints back to itself
// (leading zeros aside) and orders consistently.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-12", "1-", "-1", "99999999999999999999-1", "1-0\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := events.ParseID(s)
		if err != nil {
			return
		}
		back, err := events.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, which does not round-trip (%v, %v)", s, id, back, err)
		}
		if id.Less(id) {
			t.Fatalf("%v is less than itself", id)
		}
		if strings.ContainsAny(id.String(), "\r\n") {
			t.Fatalf("id %q would break SSE framing", id)
		}
	})
}

func TestItemEvents(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{})
	c := connect(t, rp.srv.URL, "")
	c.ready(t)
	id := uuid.New()
	it := &inventory.Item{ID: id, Name: "postgres"}
	pub := events.ItemEvents{P: rp.pub}
	if err := pub.Publish(context.Background(), inventory.Event{Type: inventory.ItemUpdated, ID: id, Item: it}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), inventory.Event{Type: inventory.ItemDeleted, ID: id}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(t); m.Event != "item.updated" || !strings.Contains(m.Data, `"name":"postgres"`) {
		t.Errorf("update event = %+v", m)
	}
	if m := c.next(t); m.Event != "item.deleted" || m.Data != `{"id":"`+id.String()+`","instance_id":"api-1"}` {
		t.Errorf("delete event = %+v, want data without item", m)
	}
}
