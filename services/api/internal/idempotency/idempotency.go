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
//
// Redis never evicts these records, so each scope has a quota
// (Options.MaxRecords stored responses, Options.MaxBytes of them): a new
// key beyond it is refused with a *QuotaError (429 idempotency-quota,
// Retry-After until the scope's oldest record expires) before the request
// runs, so a client knows it did not happen and may retry later or send it
// without a key. Replays of stored keys are never refused.
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
	// ErrQuota means the scope holds as many stored responses, or bytes of
	// them, as Options allow; it is a *QuotaError. The request did not
	// run: 429 idempotency-quota.
	ErrQuota = errors.New("too many stored Idempotency-Key responses for this caller")
)

// QuotaError is ErrQuota with the time until the scope's oldest stored
// response expires (at least a second).
type QuotaError struct{ RetryAfter time.Duration }

func (e *QuotaError) Error() string { return ErrQuota.Error() }

// Unwrap makes errors.Is(err, ErrQuota) hold.
func (e *QuotaError) Unwrap() error { return ErrQuota }

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
	// MaxRecords (default 10000) and MaxBytes (default 16 MiB, counting
	// each stored record's key and encoded response) bound what one scope
	// keeps; a new key beyond either is a *QuotaError. A request counts
	// as a record from Begin on (until Complete, Release or LockTTL), so
	// requests at the same moment cannot pass the record quota together;
	// the byte total counts a response once stored, so requests in flight
	// can take it past MaxBytes by their responses.
	MaxRecords int
	MaxBytes   int64
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
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 10000
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 16 << 20
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

// releaseScript drops the lease's place in the scope's quota (the member
// ARGV[2] of the sorted set KEYS[2]) and deletes the key KEYS[1] if it
// still belongs to ARGV[1].
var releaseScript = redis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[2])
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).owner == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// completeScript replaces the key KEYS[1] with the stored response ARGV[2]
// if it still belongs to ARGV[1], for ARGV[3] ms, and counts ARGV[4]
// bytes of it in the scope's quota in place of the lease's place ARGV[5]:
// the sorted set KEYS[2] ("size:key" scored by expiry, ms) and the byte
// total KEYS[3].
var completeScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).owner == ARGV[1] then
  redis.call('ZREM', KEYS[2], ARGV[5])
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[4] .. ':' .. KEYS[1])
  redis.call('INCRBY', KEYS[3], ARGV[4])
  -- Only ever extended: the set also holds the places of requests in
  -- flight, which may outlive a short TTL.
  local ttl = tonumber(ARGV[3])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
  if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
  return 1
end
return false
`)

// quotaScript drops the expired entries of a scope's quota (KEYS[1], the
// sorted set, KEYS[2], the byte total) and, when the scope holds fewer
// than ARGV[1] records and ARGV[2] bytes, adds the lease's place ARGV[3]
// (a record of 0 bytes until Complete replaces it) for ARGV[4] ms and
// returns 0; else it returns the seconds until the oldest record expires
// (at least 1). Checking and taking the place in one script is what keeps
// concurrent requests from passing the quota together.
var quotaScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then
  local freed = 0
  for _, m in ipairs(gone) do freed = freed + tonumber(string.match(m, '^(%d+):')) end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('DECRBY', KEYS[2], freed) <= 0 then redis.call('DEL', KEYS[2]) end
end
local n = redis.call('ZCARD', KEYS[1])
local b = tonumber(redis.call('GET', KEYS[2]) or '0')
if n < tonumber(ARGV[1]) and b < tonumber(ARGV[2]) then
  local hold = tonumber(ARGV[4])
  redis.call('ZADD', KEYS[1], now + hold, ARGV[3])
  if redis.call('PTTL', KEYS[1]) < hold then redis.call('PEXPIRE', KEYS[1], hold) end
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = 1
if first[2] then wait = math.max(1, math.ceil((tonumber(first[2]) - now) / 1000)) end
return wait
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
// A new key beyond the scope's quota is a *QuotaError (ErrQuota).
//
// With Redis failing and Options.FailOpen it returns neither a Lease nor a
// Response nor an error: run the request without the guarantee.
func (s *Store) Begin(ctx context.Context, scope, key, fp string) (*Lease, *Response, error) {
	rkey := s.redisKey(scope, key)
	qset, qbytes := s.quotaKeys(scope)
	for range 3 { // a key can expire between SET NX and GET: try again
		owner := token()
		lock, _ := json.Marshal(record{Owner: owner, Fingerprint: fp})
		ok, err := s.rdb.SetNX(ctx, rkey, lock, s.opts.LockTTL).Result()
		if err != nil {
			return nil, nil, s.degraded(ctx, err)
		}
		if ok {
			l := &Lease{s: s, key: rkey, owner: owner, fp: fp, qset: qset, qbytes: qbytes}
			wait, err := quotaScript.Run(ctx, s.rdb, []string{qset, qbytes},
				s.opts.MaxRecords, s.opts.MaxBytes, l.place(), s.opts.LockTTL.Milliseconds()).Int64()
			if err != nil {
				l.Release(ctx)
				return nil, nil, s.degraded(ctx, err)
			}
			if wait > 0 {
				l.Release(ctx)
				return nil, nil, &QuotaError{RetryAfter: time.Duration(wait) * time.Second}
			}
			return l, nil, nil
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
	qset, qbytes   string // the scope's quota keys
}

// Complete stores res as the key's response for Options.TTL. A failure is
// logged: the key then frees itself after the lock TTL, and a retry after
// that runs again. It works on after ctx is cancelled (the client left).
func (l *Lease) Complete(ctx context.Context, res Response) {
	ctx, cancel := afterRequest(ctx)
	defer cancel()
	stored, err := json.Marshal(record{Fingerprint: l.fp, Status: res.Status, Header: res.Header, Body: res.Body})
	if err == nil {
		size := len(stored) + len(l.key)
		err = completeScript.Run(ctx, l.s.rdb, []string{l.key, l.qset, l.qbytes},
			l.owner, stored, l.s.opts.TTL.Milliseconds(), size, l.place()).Err()
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
	if err := releaseScript.Run(ctx, l.s.rdb, []string{l.key, l.qset}, l.owner, l.place()).Err(); err != nil {
		l.s.opts.Log.WarnContext(ctx, "idempotency key not released; it frees itself after the lock TTL",
			slog.Any("error", err))
	}
}

// place is the lease's member in its scope's quota set while it runs: a
// record of 0 bytes ("size:key"), named by its owner too so that a lease
// whose lock expired never drops the place of the next request with the
// same key.
func (l *Lease) place() string { return "0:" + l.key + "#" + l.owner }

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

// quotaKeys are the Redis keys of scope's quota: the sorted set of its
// stored records and their byte total.
func (s *Store) quotaKeys(scope string) (set, bytes string) {
	h := sha256.Sum256([]byte(scope))
	id := hex.EncodeToString(h[:])
	return s.opts.Prefix + "quota:" + id, s.opts.Prefix + "quota-bytes:" + id
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
