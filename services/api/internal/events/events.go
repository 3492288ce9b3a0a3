// Package events carries every change to the inventory to every replica,
// whichever replica made it, for the API to stream to browsers as
// Server-Sent Events (GET /api/events, in package httpapi).
//
// A Publisher appends each create, update and delete to one Redis stream
// capped by bytes, not only by count: an entry's data is at most
// MaxEntryBytes (an item whose JSON is larger is announced without it, with
// "item_omitted": true), and XADD trims the stream (MAXLEN ~) to as many
// entries as the byte budget holds at that size, so a writer making large
// items cannot grow it past the budget (see NewPublisher). On each replica
// one Broker goroutine reads the stream (XREAD BLOCK: one Redis connection
// per replica, however many browsers) into a ring of recent events, and
// every event stream serves itself from the ring (Broker.After). The SSE
// id of an event is its stream id, so a browser that reconnects with
// Last-Event-ID gets exactly the events it missed: from the ring, or from
// Redis (XRANGE) when it is further behind than the ring reaches. A slow
// client falls behind without holding anyone up, and catches up the same
// way.
//
// When Redis goes away the streams stay open with their heartbeats; the
// Broker reconnects with backoff and carries on from the last id it read,
// so events published after Redis returns reach every open stream. (Events
// whose XADD failed while Redis was down were never published; the writer
// logged that.)
// Shutdown ends every stream (Broker.Done) so a graceful stop is not held
// up.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types.
const (
	ItemCreated = "item.created"
	ItemUpdated = "item.updated"
	ItemDeleted = "item.deleted"
)

// DefaultStream is the Redis key of the stream.
const DefaultStream = "events"

// Event is one entry of the stream.
type Event struct {
	ID   ID
	Type string
	Data []byte // JSON: {"id","item" or "item_omitted","instance_id"}
}

// Bounds of the stream.
const (
	// MaxEntryBytes bounds the data of one entry: an event whose item
	// would make it longer goes without the item.
	MaxEntryBytes = 4 << 10
	// DefaultMaxBytes is the stream's byte budget when none is given.
	DefaultMaxBytes = 16 << 20
	// entryOverhead is what Redis spends on an entry besides its data,
	// with room to spare: the id, the type field, the listpack's lengths
	// and flags, its node, and the allocator's rounding up (an entry of
	// 4 KiB of data took 5.4 KiB in TestStreamStaysWithinItsByteBudget).
	entryOverhead = 2 << 10
	// nodeSlack is what approximate trimming may keep past MAXLEN: Redis
	// removes whole nodes only, and with its default
	// stream-node-max-bytes (4096) a node holds at most 4 KiB plus one
	// entry. Twice that, to spare.
	nodeSlack = 2 * (4096 + MaxEntryBytes + entryOverhead)
)

// Publisher appends events to the stream. It is safe for concurrent use.
type Publisher struct {
	rdb        redis.UniversalClient
	stream     string
	maxLen     int64
	instanceID string
}

// NewPublisher returns a Publisher writing to stream (DefaultStream when
// empty) that keeps the stream within about maxBytes of Redis memory
// (DefaultMaxBytes when 0), stamping events with instanceID. The budget
// holds MaxLen entries of the largest size; smaller entries make the
// stream smaller, never longer. The budget is counted with Redis's default
// stream-node-max-bytes (4096); a larger setting lets it overshoot by up
// to a node.
func NewPublisher(rdb redis.UniversalClient, stream string, maxBytes int64, instanceID string) *Publisher {
	if stream == "" {
		stream = DefaultStream
	}
	return &Publisher{rdb: rdb, stream: stream, maxLen: MaxLen(maxBytes), instanceID: instanceID}
}

// MaxLen is the MAXLEN of a stream whose budget is maxBytes
// (DefaultMaxBytes when 0 or less): at least 1.
func MaxLen(maxBytes int64) int64 {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return max(1, (maxBytes-nodeSlack)/(MaxEntryBytes+entryOverhead))
}

type payload struct {
	ID          string `json:"id"`
	Item        any    `json:"item,omitempty"`
	ItemOmitted bool   `json:"item_omitted,omitempty"`
	InstanceID  string `json:"instance_id"`
}

// Publish appends an event about the item with id; item is its new state,
// nil for a delete. An item whose event would be over MaxEntryBytes is
// left out ("item_omitted": true; readers GET the item). It returns the
// event's id. Call it after the write commits; an error (Redis down)
// means the event is lost: log it, the write stands.
func (p *Publisher) Publish(ctx context.Context, typ, id string, item any) (ID, error) {
	if !validType(typ) {
		return ID{}, fmt.Errorf("events: %q is not an event type", typ)
	}
	data, err := json.Marshal(payload{ID: id, Item: item, InstanceID: p.instanceID})
	if err == nil && len(data) > MaxEntryBytes {
		data, err = json.Marshal(payload{ID: id, ItemOmitted: true, InstanceID: p.instanceID})
	}
	if err != nil {
		return ID{}, fmt.Errorf("events: encode: %w", err)
	}
	if len(data) > MaxEntryBytes { // an id or instance id no caller makes
		return ID{}, fmt.Errorf("events: an event about %.64q is over %d bytes even without its item", id, MaxEntryBytes)
	}
	s, err := p.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: p.stream,
		MaxLen: p.maxLen,
		Approx: true,
		Values: []any{"type", typ, "data", data},
	}).Result()
	if err != nil {
		return ID{}, fmt.Errorf("events: publish %s %s: %w", typ, id, err)
	}
	return ParseID(s)
}

// Options tune a Broker. The zero value is usable.
type Options struct {
	// Stream is the Redis key, default DefaultStream.
	Stream string
	// RingSize is how many recent events are kept in memory, default 1024.
	RingSize int
	// Block is how long one XREAD waits, default 2s. go-redis does not
	// interrupt a blocked read when its context ends, so this is also how
	// long Run may take to return.
	Block time.Duration
	// Log receives outages and recoveries. Default: discarded.
	Log *slog.Logger
}

// Broker reads the stream and feeds every event stream of its replica. It
// is safe for concurrent use. Run must be running for streams to see new
// events.
type Broker struct {
	rdb  redis.UniversalClient
	opts Options

	mu     sync.Mutex
	ready  bool    // head and floor are known
	head   ID      // the last id read from Redis
	floor  ID      // ring holds every event after floor up to head
	ring   []Event // ascending ids; elements are never modified
	notify chan struct{}

	shutdownOnce sync.Once
	shutdown     chan struct{}
}

// NewBroker returns a Broker on rdb.
func NewBroker(rdb redis.UniversalClient, opts Options) *Broker {
	if opts.Stream == "" {
		opts.Stream = DefaultStream
	}
	if opts.RingSize <= 0 {
		opts.RingSize = 1024
	}
	if opts.Block <= 0 {
		opts.Block = 2 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Broker{rdb: rdb, opts: opts, notify: make(chan struct{}), shutdown: make(chan struct{})}
}

// Run reads the stream until ctx ends, reconnecting with backoff when
// Redis fails (logged once per outage). It returns ctx's error.
func (b *Broker) Run(ctx context.Context) error {
	const minBackoff, maxBackoff = 50 * time.Millisecond, 2 * time.Second
	backoff := minBackoff
	down := false
	fail := func(op string, err error) {
		if !down {
			b.opts.Log.Warn("event stream: redis unavailable; retrying", slog.String("op", op), slog.Any("error", err))
			down = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
	recovered := func() {
		if down {
			b.opts.Log.Info("event stream: redis is back")
			down = false
		}
		backoff = minBackoff
	}
	for ctx.Err() == nil {
		b.mu.Lock()
		ready, head := b.ready, b.head
		b.mu.Unlock()
		if !ready {
			last, err := b.rdb.XRevRangeN(ctx, b.opts.Stream, "+", "-", 1).Result()
			if err != nil {
				fail("xrevrange", err)
				continue
			}
			recovered()
			var start ID
			if len(last) == 1 {
				if start, err = ParseID(last[0].ID); err != nil {
					return fmt.Errorf("events: stream %s holds id %q: %w", b.opts.Stream, last[0].ID, err)
				}
			}
			b.mu.Lock()
			b.ready, b.head, b.floor = true, start, start
			b.broadcast()
			b.mu.Unlock()
			continue
		}
		res, err := b.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{b.opts.Stream, head.String()},
			Count:   100,
			Block:   b.opts.Block,
		}).Result()
		if errors.Is(err, redis.Nil) {
			recovered()
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fail("xread", err)
			continue
		}
		recovered()
		if len(res) == 1 {
			b.add(decode(res[0].Messages, b.opts.Log))
		}
	}
	return ctx.Err()
}

// decode turns stream entries into events, skipping malformed ones. Data
// is compacted JSON and the type a plain word, so neither can break the
// SSE framing whoever wrote the entry.
func decode(msgs []redis.XMessage, log *slog.Logger) []Event {
	evs := make([]Event, 0, len(msgs))
	for _, m := range msgs {
		id, err := ParseID(m.ID)
		typ, _ := m.Values["type"].(string)
		data, _ := m.Values["data"].(string)
		var buf bytes.Buffer
		if err != nil || !validType(typ) || json.Compact(&buf, []byte(data)) != nil {
			log.Warn("event stream: skipping a malformed entry", slog.String("id", m.ID))
			continue
		}
		evs = append(evs, Event{ID: id, Type: typ, Data: buf.Bytes()})
	}
	return evs
}

func validType(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// add appends events read from Redis to the ring.
func (b *Broker) add(evs []Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range evs {
		if b.head.Less(e.ID) {
			b.ring = append(b.ring, e)
			b.head = e.ID
		}
	}
	if n := len(b.ring) - b.opts.RingSize; n > 0 {
		b.floor = b.ring[n-1].ID
		b.ring = b.ring[n:]
	}
	b.broadcast()
}

// broadcast wakes every waiting connection. b.mu must be held.
func (b *Broker) broadcast() {
	close(b.notify)
	b.notify = make(chan struct{})
}

// since returns the events after last held in memory. gap is true when
// last is older than the ring reaches: the caller must read Redis. The
// channel closes when something changes.
func (b *Broker) since(last ID) (evs []Event, gap bool, changed <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ready {
		return nil, false, b.notify
	}
	if last.Less(b.floor) {
		return nil, true, b.notify
	}
	i := sort.Search(len(b.ring), func(i int) bool { return last.Less(b.ring[i].ID) })
	return b.ring[i:len(b.ring):len(b.ring)], false, b.notify
}

// readRedis reads up to 100 events after last from the stream itself.
func (b *Broker) readRedis(ctx context.Context, last ID) ([]Event, error) {
	msgs, err := b.rdb.XRangeN(ctx, b.opts.Stream, "("+last.String(), "+", 100).Result()
	if err != nil {
		return nil, err
	}
	return decode(msgs, b.opts.Log), nil
}

// Current returns the id of the last event read, whether it is known yet
// (Run has reached Redis once), and a channel that closes when something
// changes.
func (b *Broker) Current() (ID, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.head, b.ready, b.notify
}

// After returns the events after last: from memory, or from Redis (up to
// 100 at a time) when last is older than memory reaches. next is where to
// go on from: the last event's id, or where memory begins once Redis holds
// nothing more after last. With no events, changed closes when there may
// be some. An error is Redis failing while catching up; call again later.
func (b *Broker) After(ctx context.Context, last ID) (evs []Event, next ID, changed <-chan struct{}, err error) {
	for {
		evs, gap, changed := b.since(last)
		if !gap {
			if len(evs) > 0 {
				last = evs[len(evs)-1].ID
			}
			return evs, last, changed, nil
		}
		evs, err := b.readRedis(ctx, last)
		if err != nil {
			return nil, last, nil, err
		}
		if len(evs) > 0 {
			return evs, evs[len(evs)-1].ID, nil, nil
		}
		// Nothing left in Redis: the ring has the rest.
		b.mu.Lock()
		if last.Less(b.floor) {
			last = b.floor
		}
		b.mu.Unlock()
	}
}

// Done is closed once Shutdown is called: every stream must end.
func (b *Broker) Done() <-chan struct{} { return b.shutdown }

// Shutdown ends every open stream, now and later. Call it when the server
// starts shutting down (serve.Options.OnShutdown): streams never finish on
// their own.
func (b *Broker) Shutdown() {
	b.shutdownOnce.Do(func() { close(b.shutdown) })
}
