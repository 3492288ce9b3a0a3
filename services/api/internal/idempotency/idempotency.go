// Package idempotency keeps, in Redis, the responses of requests made with
// an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header), so
// that a POST is safe to retry on any replica. The API's HTTP layer reads
// the key and the body, records the response and replays it.
//
// The first request with a key takes a Lease (Store.Begin) and runs; its
// response (status, the headers the handler set, body) is then stored for
// Options.TTL (Lease.Complete). A retry with the same key and the same
// request (its Fingerprint: method, path, query and body, by SHA-256) gets
// that Response to replay instead of running. The same key with a
// different request is ErrMismatch (422 idempotency-mismatch). While the
// first is still running, a concurrent request with the key gets
// ErrInProgress (409, Retry-After: 1): exactly one of them runs.
//
// Keys are scoped (typically by the authenticated principal), so one
// caller's key can never replay another caller's response.
//
// Only completed responses are stored: a request that fails (an error, a
// 5xx, a panic) releases its key (Lease.Release) and a retry runs again.
// Redis failing is ErrUnavailable (503) unless Options.FailOpen, when the
// request runs without the guarantee and the failure is logged.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// ReplayedHeader marks a replayed response.
const ReplayedHeader = "Idempotent-Replayed"

var (
	// ErrInvalidKey means the Idempotency-Key header is malformed or
	// repeated: 400, with the header named in the detail.
	ErrInvalidKey = errors.New("invalid Idempotency-Key")
	// ErrMismatch means the key was used for a different request: 422
	// idempotency-mismatch.
	ErrMismatch = errors.New("Idempotency-Key was used with a different request")
	// ErrInProgress means a request with the key is still running: 409,
	// Retry-After is set.
	ErrInProgress = errors.New("a request with this Idempotency-Key is in progress")
	// ErrUnavailable means Redis failed and the middleware fails closed: 503.
	ErrUnavailable = errors.New("idempotency store unavailable")
)

// MaxKeyLen bounds a key.
const MaxKeyLen = 255

// ParseKey reads an Idempotency-Key value: either a structured-field string
// ("..." with \" and \\ escapes, as the draft specifies) or, as many
// clients send it, a bare token of visible ASCII. The key has 1 to
// MaxKeyLen characters.
func ParseKey(v string) (string, error) {
	if len(v) >= 2 && v[0] == '"' {
		var b []byte
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '\\':
				i++
				if i >= len(v) || (v[i] != '"' && v[i] != '\\') {
					return "", fmt.Errorf("%w: bad escape", ErrInvalidKey)
				}
				b = append(b, v[i])
			case c == '"':
				if i != len(v)-1 {
					return "", fmt.Errorf("%w: text after the closing quote", ErrInvalidKey)
				}
				if len(b) == 0 || len(b) > MaxKeyLen {
					return "", fmt.Errorf("%w: want 1 to %d characters", ErrInvalidKey, MaxKeyLen)
				}
				return string(b), nil
			case c < 0x20 || c > 0x7e:
				return "", fmt.Errorf("%w: only printable ASCII is allowed", ErrInvalidKey)
			default:
				b = append(b, c)
			}
		}
		return "", fmt.Errorf("%w: unterminated string", ErrInvalidKey)
	}
	if len(v) == 0 || len(v) > MaxKeyLen {
		return "", fmt.Errorf("%w: want 1 to %d characters", ErrInvalidKey, MaxKeyLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c > 0x7e || c == '"' {
			return "", fmt.Errorf("%w: only visible ASCII without quotes is allowed in a bare key", ErrInvalidKey)
		}
	}
	return v, nil
}

// Options tune a Store. The zero value is usable.
type Options struct {
	// TTL is how long a completed response is kept, default 24 hours.
	TTL time.Duration
	// LockTTL bounds how long a running request holds its key (should a
	// replica die mid-request), default 1 minute; keep it above the
	// server's WriteTimeout.
	LockTTL time.Duration
	// Prefix starts every Redis key, default "idem:".
	Prefix string
	// FailOpen runs requests without the guarantee when Redis fails,
	// instead of ErrUnavailable.
	FailOpen bool
	// Log receives Redis failures. Default: discarded.
	Log *slog.Logger
}

// Store keeps the keys and their responses. It is safe for concurrent use;
// replicas built on one Redis share them.
type Store struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, opts Options) *Store {
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = time.Minute
	}
	if opts.Prefix == "" {
		opts.Prefix = "idem:"
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Store{rdb: rdb, opts: opts}
}

// Response is a completed response as stored and replayed.
type Response struct {
	Status int
	Header http.Header // the headers the handler set
	Body   []byte
}

// record is what Redis holds under a key.
type record struct {
	Owner       string      `json:"owner,omitempty"` // set while running
	Fingerprint string      `json:"fp"`
	Status      int         `json:"status,omitempty"` // set when done
	Header      http.Header `json:"header,omitempty"`
	Body        []byte      `json:"body,omitempty"`
}

// releaseScript deletes the key if it still belongs to ARGV[1].
var releaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// completeScript replaces the key with the stored response if it still
// belongs to ARGV[1].
var completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).owner == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
`)

// Begin claims key, in the caller's scope, for the request whose
// Fingerprint is fp. It returns
//
//   - a Lease when this request is the first with the key: run it, then
//     Complete or Release the lease;
//   - the Response to replay when the same request already completed;
//   - ErrMismatch (another request used the key), ErrInProgress (the
//     first is still running), or ErrUnavailable (Redis failing).
//
// With Redis failing and Options.FailOpen it returns neither a Lease nor a
// Response nor an error: run the request without the guarantee.
func (s *Store) Begin(ctx context.Context, scope, key, fp string) (*Lease, *Response, error) {
	rkey := s.redisKey(scope, key)
	for range 3 { // a key can expire between SET NX and GET: try again
		owner := token()
		lock, _ := json.Marshal(record{Owner: owner, Fingerprint: fp})
		ok, err := s.rdb.SetNX(ctx, rkey, lock, s.opts.LockTTL).Result()
		if err != nil {
			return nil, nil, s.degraded(ctx, err)
		}
		if ok {
			return &Lease{s: s, key: rkey, owner: owner, fp: fp}, nil, nil
		}
		raw, err := s.rdb.Get(ctx, rkey).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, nil, s.degraded(ctx, err)
		}
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, nil, fmt.Errorf("idempotency: decode stored record: %w", err)
		}
		switch {
		case rec.Fingerprint != fp:
			return nil, nil, ErrMismatch
		case rec.Status == 0:
			return nil, nil, ErrInProgress
		default:
			return nil, &Response{Status: rec.Status, Header: rec.Header, Body: rec.Body}, nil
		}
	}
	return nil, nil, ErrInProgress
}

// degraded is Begin's answer when Redis fails: nil when failing open.
func (s *Store) degraded(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.opts.Log.WarnContext(ctx, "idempotency store unavailable", slog.Bool("fail_open", s.opts.FailOpen), slog.Any("error", err))
	if s.opts.FailOpen {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Lease is a running request's hold on its key, until Complete or Release.
type Lease struct {
	s              *Store
	key, owner, fp string
}

// Complete stores res as the key's response for Options.TTL. A failure is
// logged: the key then frees itself after the lock TTL, and a retry after
// that runs again. It works on after ctx is cancelled (the client left).
func (l *Lease) Complete(ctx context.Context, res Response) {
	ctx, cancel := afterRequest(ctx)
	defer cancel()
	stored, err := json.Marshal(record{Fingerprint: l.fp, Status: res.Status, Header: res.Header, Body: res.Body})
	if err == nil {
		err = completeScript.Run(ctx, l.s.rdb, []string{l.key}, l.owner, stored, l.s.opts.TTL.Milliseconds()).Err()
	}
	if err != nil && !errors.Is(err, redis.Nil) {
		l.s.opts.Log.WarnContext(ctx, "idempotent response not stored; a retry after the lock TTL would run again",
			slog.Any("error", err))
	}
}

// Release frees the key without a response, so a retry runs again. A
// failure is logged: the key then frees itself after the lock TTL. It
// works on after ctx is cancelled.
func (l *Lease) Release(ctx context.Context) {
	ctx, cancel := afterRequest(ctx)
	defer cancel()
	if err := releaseScript.Run(ctx, l.s.rdb, []string{l.key}, l.owner).Err(); err != nil {
		l.s.opts.Log.WarnContext(ctx, "idempotency key not released; it frees itself after the lock TTL",
			slog.Any("error", err))
	}
}

// afterRequest is ctx without its cancellation, bounded: Redis work after
// the handler must happen even if the client left.
func afterRequest(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

func (s *Store) redisKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return s.opts.Prefix + hex.EncodeToString(h.Sum(nil))
}

// Fingerprint identifies a request: its method, escaped path, raw query
// and body.
func Fingerprint(method, path, rawQuery string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", method, path, rawQuery)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
