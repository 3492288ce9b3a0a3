package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// replica is one API instance's event side: a publisher, a running broker,
// and the API served over HTTP; url is its GET /api/events.
type replica struct {
	pub    *events.Publisher
	broker *events.Broker
	url    string
}

func newReplica(t *testing.T, r *faultredis.Redis, name string, opts events.Options, streams httpapi.EventStreams, configure ...func(*http.Server)) replica {
	t.Helper()
	rdb := r.Client(t)
	if streams.Heartbeat == 0 {
		streams.Heartbeat = 50 * time.Millisecond
	}
	if opts.Block == 0 {
		opts.Block = 100 * time.Millisecond
	}
	b := events.NewBroker(rdb, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	api := newEnv(t, func(d *httpapi.Deps) { d.EventFeed, d.EventStreams = b, streams })
	srv := httptest.NewUnstartedServer(api.h)
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
	return replica{pub: events.NewPublisher(rdb, "", 0, name), broker: b, url: srv.URL + "/api/events"}
}

// message is one SSE message, or one comment.
type sseMessage struct {
	ID, Event, Data, Comment string
}

// client is a browser's EventSource, reduced to what the tests look at.
type sseClient struct {
	msgs chan sseMessage
	done chan struct{}
	resp *http.Response
}

func connectEvents(t *testing.T, url, lastEventID string) *sseClient {
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
	c := &sseClient{msgs: make(chan sseMessage, 1000), done: make(chan struct{}), resp: resp}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(resp.Body)
		var m sseMessage
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
				m, fields = sseMessage{}, false
			case name == "":
				c.msgs <- sseMessage{Comment: value}
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
func (c *sseClient) next(t *testing.T) sseMessage {
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
func (c *sseClient) ready(t *testing.T) string {
	t.Helper()
	m := c.next(t)
	if m.Event != "" || m.Data != "" {
		t.Fatalf("first message = %+v, want an id-only message", m)
	}
	return m.ID
}

func publishEvent(t *testing.T, p *events.Publisher, typ, id string) events.ID {
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
	r1 := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{})
	r3 := newReplica(t, r, "api-3", events.Options{}, httpapi.EventStreams{})
	c := connectEvents(t, r3.url, "")
	c.ready(t)

	created := publishEvent(t, r1.pub, events.ItemCreated, "a")
	deleted := publishEvent(t, r1.pub, events.ItemDeleted, "a")

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
			rp := newReplica(t, r, "api-1", events.Options{RingSize: tc.ring}, httpapi.EventStreams{})
			c := connectEvents(t, rp.url, "")
			c.ready(t)
			first := publishEvent(t, rp.pub, events.ItemCreated, "1")
			if got := c.next(t).ID; got != first.String() {
				t.Fatalf("got %s, want %s", got, first)
			}
			c.resp.Body.Close() // the browser loses its connection...

			var missed []string
			for _, id := range []string{"2", "3", "4", "5"} {
				missed = append(missed, publishEvent(t, rp.pub, events.ItemUpdated, id).String())
			}
			// ...and reconnects with the last id it saw.
			c = connectEvents(t, rp.url, first.String())
			for _, want := range missed {
				if got := c.next(t); got.ID != want {
					t.Fatalf("resumed stream gave %+v, want id %s", got, want)
				}
			}
			next := publishEvent(t, rp.pub, events.ItemDeleted, "1")
			if got := c.next(t); got.ID != next.String() {
				t.Errorf("after catching up got %+v, want %s", got, next)
			}
		})
	}
}

func TestHeartbeats(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{Heartbeat: 20 * time.Millisecond})
	c := connectEvents(t, rp.url, "")
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
	rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{Heartbeat: 50 * time.Millisecond}, func(s *http.Server) {
		s.ReadTimeout = timeout
		s.WriteTimeout = timeout
	})
	c := connectEvents(t, rp.url, "")
	c.ready(t)
	start := time.Now()
	for time.Since(start) < 5*timeout {
		select {
		case <-c.msgs: // heartbeats
		case <-c.done:
			t.Fatalf("stream cut after %s", time.Since(start))
		}
	}
	id := publishEvent(t, rp.pub, events.ItemCreated, "late")
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
			rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{})
			writer := events.NewPublisher(r.Direct(), "", 0, "api-2") // another replica, not cut off
			c := connectEvents(t, rp.url, "")
			c.ready(t)
			before := publishEvent(t, writer, events.ItemCreated, "1")
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

			after := publishEvent(t, writer, events.ItemUpdated, "1")
			if got := c.next(t); got.ID != after.String() || got.Event != events.ItemUpdated {
				t.Errorf("after Redis returned got %+v, want %s", got, after)
			}
		})
	}
}

func TestShutdownEndsStreams(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{})
	c := connectEvents(t, rp.url, "")
	c.ready(t)
	rp.broker.Shutdown()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after Shutdown")
	}
	// And a stream opened after Shutdown ends at once.
	c = connectEvents(t, rp.url, "")
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream opened after Shutdown stays open")
	}
}

func TestItemEvents(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{})
	c := connectEvents(t, rp.url, "")
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

// heldFeed is a feed whose position never becomes known: a stream on it
// stays open, waiting, until its client leaves. started gets a value for
// each stream that starts.
type heldFeed struct{ started chan struct{} }

func (f heldFeed) Current() (events.ID, bool, <-chan struct{}) {
	f.started <- struct{}{}
	return events.ID{}, false, nil
}

func (heldFeed) After(context.Context, events.ID) ([]events.Event, events.ID, <-chan struct{}, error) {
	panic("After before the position is known")
}

func (heldFeed) Done() <-chan struct{} { return nil }

// One address can hold at most PerClient streams; another address is not
// affected, and a closed stream frees its place.
func TestEventStreamsPerClient(t *testing.T) {
	feed := heldFeed{started: make(chan struct{})}
	e := newEnv(t, func(d *httpapi.Deps) {
		d.EventFeed, d.EventStreams = feed, httpapi.EventStreams{PerClient: 2, Heartbeat: time.Hour}
	})
	open := func(peer string) (cancel func(), done <-chan *httptest.ResponseRecorder) {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequestWithContext(ctx, "GET", "/api/events", nil)
		req.RemoteAddr = peer + ":5000"
		rec := httptest.NewRecorder()
		ch := make(chan *httptest.ResponseRecorder, 1)
		go func() { e.h.ServeHTTP(rec, req); ch <- rec }()
		return cancel, ch
	}
	var closers []func()
	var ends []<-chan *httptest.ResponseRecorder
	for range 2 {
		cancel, done := open("203.0.113.1")
		<-feed.started
		closers, ends = append(closers, cancel), append(ends, done)
	}
	cancel, third := open("203.0.113.1")
	defer cancel()
	select {
	case rec := <-third:
		wantProblem(t, rec, http.StatusTooManyRequests, "rate-limited")
		if rec.Header().Get("Retry-After") == "" {
			t.Error("the refused stream has no Retry-After")
		}
	case <-feed.started:
		t.Fatal("a third stream from one address started")
	}
	cancel, other := open("203.0.113.2")
	select {
	case <-feed.started:
	case <-time.After(10 * time.Second):
		t.Fatal("another address's stream did not start")
	}
	closers, ends = append(closers, cancel), append(ends, other)

	closers[0]() // a stream of the first address ends...
	if rec := <-ends[0]; rec.Code != http.StatusOK {
		t.Errorf("a stream that ended: %d, want 200", rec.Code)
	}
	cancel, again := open("203.0.113.1") // ...and frees its place
	select {
	case <-feed.started:
	case rec := <-again:
		t.Fatalf("a stream after one ended: %d, want it to start", rec.Code)
	}
	for _, c := range append(closers[1:], cancel) {
		c()
	}
	for _, d := range append(ends[1:], again) {
		<-d
	}
}

func TestLastEventIDFromTheQuery(t *testing.T) {
	r := faultredis.New(t)
	rp := newReplica(t, r, "api-1", events.Options{}, httpapi.EventStreams{})
	c := connectEvents(t, rp.url, "")
	c.ready(t)
	first := publishEvent(t, rp.pub, events.ItemCreated, "1")
	second := publishEvent(t, rp.pub, events.ItemUpdated, "1")
	c.next(t)
	c.next(t)
	// A page that kept its position across a reload passes it in the
	// query; the header, which a reconnecting EventSource sends, wins.
	if got := connectEvents(t, rp.url+"?last_event_id="+first.String(), "").next(t); got.ID != second.String() {
		t.Errorf("resumed from the query: %+v, want %s", got, second)
	}
	if got := connectEvents(t, rp.url+"?last_event_id=0-0", first.String()).next(t); got.ID != second.String() {
		t.Errorf("resumed from the header over the query: %+v, want %s", got, second)
	}
	// An id that is not one starts at the present.
	if got := connectEvents(t, rp.url+"?last_event_id=garbage", "").next(t); got.ID != second.String() || got.Event != "" {
		t.Errorf("with a bad id: %+v, want the id-only message at %s", got, second)
	}
}
