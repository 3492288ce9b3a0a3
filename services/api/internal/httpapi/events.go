package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// EventFeed is the live feed GET /api/events streams (*events.Broker).
type EventFeed interface {
	// Current is the id of the last event, whether it is known yet, and
	// a channel that closes when something changes.
	Current() (last events.ID, ready bool, changed <-chan struct{})
	// After returns the events after last and where to go on from; with
	// none, changed closes when there may be some. An error is Redis
	// failing while catching up.
	After(ctx context.Context, last events.ID) (evs []events.Event, next events.ID, changed <-chan struct{}, err error)
	// Done is closed when every stream must end (the server stops).
	Done() <-chan struct{}
}

// EventStreams tunes GET /api/events; zero fields take their defaults.
type EventStreams struct {
	// Heartbeat is the interval of ": ping" comments, default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds each write to a client, default twice Heartbeat.
	WriteTimeout time.Duration
	// Retry is the reconnection delay sent to browsers, default 2s.
	Retry time.Duration
	// PerClient caps the streams one client address holds open at once
	// on this replica, so one client can't hold every stream (and every
	// slot a proxy keeps for them); 0 sets no cap.
	PerClient int
}

func (o EventStreams) withDefaults() EventStreams {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 2 * o.Heartbeat
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	return o
}

// streamEvents is GET /api/events. It streams every event after the
// client's Last-Event-ID (or after now) as
//
//	id: <stream id>
//	event: item.created | item.updated | item.deleted
//	data: {"id":"…","item":{…},"instance_id":"…"}
//
// where item is absent on a delete, and replaced by "item_omitted": true
// when the item's JSON would make the event larger than
// events.MaxEntryBytes.
//
// with ": ping" comments every Heartbeat. A stream without Last-Event-ID
// first gets an id-only message, so even a client that saw no event
// resumes from where it connected. A client over its cap of open streams
// gets 429 with Retry-After, and a replica without a feed 503, before the
// stream starts; afterwards the stream ends when the client leaves or the
// feed is done.
//
// Each write first extends the connection's write deadline, and the read
// deadline is lifted, so the server's ReadTimeout and WriteTimeout, right
// for ordinary requests, do not cut streams.
func (s *server) streamEvents(c echo.Context) error {
	if s.EventFeed == nil {
		return newProblem(http.StatusServiceUnavailable, "unavailable", "live events are not available")
	}
	w, r := c.Response(), c.Request()
	if s.streams != nil {
		release, ok := s.streams.take(s.proxies.ClientIP(r))
		if !ok {
			w.Header().Set("Retry-After", strconv.Itoa(10))
			return ratelimit.ErrLimited
		}
		defer release()
	}
	opts := s.EventStreams
	rc := http.NewResponseController(w)
	// A stream outlives the server's read timeout: lift it. Not every
	// writer supports it; a server without ReadTimeout needs nothing.
	_ = rc.SetReadDeadline(time.Time{})

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering
	if err := rc.SetWriteDeadline(time.Now().Add(opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	sc := &eventStream{feed: s.EventFeed, opts: opts, log: s.log, rc: rc, w: bw, r: r}

	fmt.Fprintf(bw, "retry: %d\n\n", opts.Retry.Milliseconds())
	if err := sc.flush(); err != nil {
		return nil // the client left already
	}
	if err := sc.run(); err != nil {
		s.log.DebugContext(r.Context(), "event stream ended", slog.Any("error", err))
	}
	return nil
}

// lastEventID returns where a client wants to resume: the Last-Event-ID
// header a browser sends when it reconnects, else the last_event_id query
// parameter (for a page that kept its position across a reload). ok is
// false when neither holds a valid id; the stream then starts at the
// present.
func lastEventID(r *http.Request) (events.ID, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	id, err := events.ParseID(v)
	return id, err == nil
}

// eventStream is one open GET /api/events.
type eventStream struct {
	feed EventFeed
	opts EventStreams
	log  *slog.Logger
	rc   *http.ResponseController
	w    *bufio.Writer
	r    *http.Request
}

var errStreamDone = errors.New("stream closed")

// flush sends what is buffered, extending the write deadline first.
func (c *eventStream) flush() error {
	if err := c.rc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.rc.Flush()
}

// wait blocks until changed closes, a heartbeat is due (and sent), or the
// stream must end.
func (c *eventStream) wait(changed <-chan struct{}, beat *time.Ticker) error {
	select {
	case <-changed:
		return nil
	case <-beat.C:
		c.w.WriteString(": ping\n\n")
		return c.flush()
	case <-c.r.Context().Done():
		return c.r.Context().Err()
	case <-c.feed.Done():
		return errStreamDone
	}
}

func (c *eventStream) run() error {
	beat := time.NewTicker(c.opts.Heartbeat)
	defer beat.Stop()
	ctx := c.r.Context()

	last, resumed := lastEventID(c.r)
	for !resumed {
		head, ready, changed := c.feed.Current()
		if ready {
			last = head
			fmt.Fprintf(c.w, "id: %s\n\n", last)
			if err := c.flush(); err != nil {
				return err
			}
			break
		}
		if err := c.wait(changed, beat); err != nil {
			return err
		}
	}

	redisFailed := false
	for {
		evs, next, changed, err := c.feed.After(ctx, last)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			if !redisFailed {
				c.log.WarnContext(ctx, "event stream: cannot catch up from redis; retrying at each heartbeat",
					slog.Any("error", err))
				redisFailed = true
			}
			if err := c.wait(nil, beat); err != nil {
				return err
			}
			continue
		}
		redisFailed = false
		last = next
		if len(evs) == 0 {
			if err := c.wait(changed, beat); err != nil {
				return err
			}
			continue
		}
		for _, e := range evs {
			fmt.Fprintf(c.w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, e.Data)
		}
		if err := c.flush(); err != nil {
			return err
		}
	}
}

// streamSlots counts the open streams of each client address. It is safe
// for concurrent use.
type streamSlots struct {
	max  int
	mu   sync.Mutex
	open map[netip.Addr]int
}

func newStreamSlots(max int) *streamSlots {
	return &streamSlots{max: max, open: map[netip.Addr]int{}}
}

// take holds one of ip's slots until release is called; ok is false when
// ip holds all of its slots.
func (s *streamSlots) take(ip netip.Addr) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[ip] >= s.max {
		return nil, false
	}
	s.open[ip]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.open[ip]--; s.open[ip] <= 0 {
			delete(s.open, ip)
		}
	}, true
}
