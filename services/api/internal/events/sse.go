package events

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// LastEventID returns where a client wants to resume: the Last-Event-ID
// header a browser sends when it reconnects, else the last_event_id query
// parameter (for a page that kept its position across a reload). ok is
// false when neither holds a valid id; the stream then starts at the
// present.
func LastEventID(r *http.Request) (ID, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	id, err := ParseID(v)
	return id, err == nil
}

// HandlerFunc is an http handler that returns its error to the service's
// error handler instead of writing it.
type HandlerFunc = func(http.ResponseWriter, *http.Request) error

// ServeEvents is GET /api/events. It streams every event after the
// client's Last-Event-ID (or after now) as
//
//	id: <stream id>
//	event: item.created | item.updated | item.deleted
//	data: {"id":"…","item":{…},"instance_id":"…"}
//
// where item is absent on a delete, and replaced by "item_omitted": true
// when the item's JSON would make the event larger than MaxEntryBytes.
//
// with ": ping" comments every Heartbeat. A stream without Last-Event-ID
// first gets an id-only message, so even a client that saw no event
// resumes from where it connected. It returns an error only before the
// stream starts (the writer cannot stream); afterwards it returns nil when
// the client leaves or the Broker shuts down.
func (b *Broker) ServeEvents(w http.ResponseWriter, r *http.Request) error {
	rc := http.NewResponseController(w)
	// A stream outlives the server's read timeout: lift it. Not every
	// writer supports it; a server without ReadTimeout needs nothing.
	_ = rc.SetReadDeadline(time.Time{})

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // no proxy buffering
	if err := rc.SetWriteDeadline(time.Now().Add(b.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriter(w)
	c := &conn{b: b, rc: rc, w: bw, r: r}

	fmt.Fprintf(bw, "retry: %d\n\n", b.opts.Retry.Milliseconds())
	if err := c.flush(); err != nil {
		return nil // the client left already
	}
	if err := c.stream(); err != nil {
		b.opts.Log.DebugContext(r.Context(), "event stream ended", slog.Any("error", err))
	}
	return nil
}

type conn struct {
	b  *Broker
	rc *http.ResponseController
	w  *bufio.Writer
	r  *http.Request
}

var errDone = errors.New("stream closed")

// flush sends what is buffered, extending the write deadline first.
func (c *conn) flush() error {
	if err := c.rc.SetWriteDeadline(time.Now().Add(c.b.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.rc.Flush()
}

// wait blocks until changed closes, a heartbeat is due (and sent), or the
// stream must end.
func (c *conn) wait(changed <-chan struct{}, beat *time.Ticker) error {
	select {
	case <-changed:
		return nil
	case <-beat.C:
		c.w.WriteString(": ping\n\n")
		return c.flush()
	case <-c.r.Context().Done():
		return c.r.Context().Err()
	case <-c.b.shutdown:
		return errDone
	}
}

func (c *conn) stream() error {
	beat := time.NewTicker(c.b.opts.Heartbeat)
	defer beat.Stop()

	last, resumed := LastEventID(c.r)
	for !resumed {
		head, ready, changed := c.b.current()
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
		evs, gap, changed := c.b.since(last)
		if gap {
			var err error
			evs, err = c.b.readRedis(c.r.Context(), last)
			if err != nil {
				if c.r.Context().Err() != nil {
					return err
				}
				if !redisFailed {
					c.b.opts.Log.WarnContext(c.r.Context(), "event stream: cannot catch up from redis; retrying at each heartbeat",
						slog.Any("error", err))
					redisFailed = true
				}
				if err := c.wait(nil, beat); err != nil {
					return err
				}
				continue
			}
			redisFailed = false
			if len(evs) == 0 { // nothing left in Redis: the ring has the rest
				c.b.mu.Lock()
				if last.Less(c.b.floor) {
					last = c.b.floor
				}
				c.b.mu.Unlock()
				continue
			}
		}
		if len(evs) == 0 {
			if err := c.wait(changed, beat); err != nil {
				return err
			}
			continue
		}
		for _, e := range evs {
			fmt.Fprintf(c.w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, e.Data)
			last = e.ID
		}
		if err := c.flush(); err != nil {
			return err
		}
	}
}
