// Package idempotency makes POST requests safe to retry with an
// Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header).
//
// The first request with a key runs; its response (status, the headers
// the handler set, body) is stored in Redis for Options.TTL. A retry with
// the same key and the same request (method, path, query and body, compared
// by SHA-256) gets that response again, on any replica, marked
// Idempotent-Replayed: true, and the handler does not run. The same key with
// a different request is ErrMismatch (422 idempotency-mismatch). While the
// first is still running, a concurrent request with the key gets
// ErrInProgress (409, Retry-After: 1): exactly one of them runs.
//
// Keys are scoped (Options.Scope, typically the authenticated principal), so
// one caller's key can never replay another caller's response.
//
// Only completed responses are stored: when the handler returns an error,
// answers 5xx or panics, the key is released and a retry runs again.
// Redis failing is ErrUnavailable (503) unless Options.FailOpen, when the
// request runs without the guarantee and the failure is logged.
package idempotency

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/docker-examples/stack/platform/statuswriter"
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

// Options tune the middleware. The zero value is usable.
type Options struct {
	// TTL is how long a completed response is kept, default 24 hours.
	TTL time.Duration
	// LockTTL bounds how long a running request holds its key (should a
	// replica die mid-request), default 1 minute; keep it above the
	// server's WriteTimeout.
	LockTTL time.Duration
	// MaxBody is the most request bytes read; longer bodies get an
	// *http.MaxBytesError (413). Default 1 MiB; the API's own body limit
	// normally stops them first.
	MaxBody int64
	// MaxStored is the largest response body stored, default 1 MiB;
	// larger responses are sent but not stored, and the key is released.
	MaxStored int
	// Prefix starts every Redis key, default "idem:".
	Prefix string
	// Scope names the caller's key space, default one space for all.
	// Pass the authenticated principal's id.
	Scope func(*http.Request) string
	// FailOpen runs requests without the guarantee when Redis fails,
	// instead of ErrUnavailable.
	FailOpen bool
	// Log receives Redis failures. Default: discarded.
	Log *slog.Logger
}

// HandlerFunc is an http handler that returns its error to the service's
// error handler instead of writing it.
type HandlerFunc = func(http.ResponseWriter, *http.Request) error

// Middleware is the idempotency middleware. It is safe for concurrent use.
type Middleware struct {
	rdb  redis.UniversalClient
	opts Options
}

// New returns the middleware on rdb.
func New(rdb redis.UniversalClient, opts Options) *Middleware {
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if opts.LockTTL <= 0 {
		opts.LockTTL = time.Minute
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.MaxStored <= 0 {
		opts.MaxStored = 1 << 20
	}
	if opts.Prefix == "" {
		opts.Prefix = "idem:"
	}
	if opts.Scope == nil {
		opts.Scope = func(*http.Request) string { return "" }
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Middleware{rdb: rdb, opts: opts}
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

// Wrap guards next: POST requests with an Idempotency-Key run at most once
// per key. Other requests pass through untouched.
func (m *Middleware) Wrap(next HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		vals := r.Header.Values(Header)
		if r.Method != http.MethodPost || len(vals) == 0 {
			return next(w, r)
		}
		if len(vals) > 1 {
			return fmt.Errorf("%w: the header is repeated", ErrInvalidKey)
		}
		key, err := ParseKey(vals[0])
		if err != nil {
			return err
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, m.opts.MaxBody+1))
		if err != nil {
			return err // a *http.MaxBytesError from the API's limit stays one
		}
		if int64(len(body)) > m.opts.MaxBody {
			return &http.MaxBytesError{Limit: m.opts.MaxBody}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		fp := fingerprint(r, body)
		rkey := m.redisKey(m.opts.Scope(r), key)
		ctx := r.Context()
		for range 3 { // a key can expire between SET NX and GET: try again
			owner := token()
			lock, _ := json.Marshal(record{Owner: owner, Fingerprint: fp})
			ok, err := m.rdb.SetNX(ctx, rkey, lock, m.opts.LockTTL).Result()
			if err != nil {
				return m.degraded(ctx, w, r, next, err)
			}
			if ok {
				return m.run(w, r, next, rkey, owner, fp)
			}
			raw, err := m.rdb.Get(ctx, rkey).Bytes()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return m.degraded(ctx, w, r, next, err)
			}
			var rec record
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("idempotency: decode stored record: %w", err)
			}
			switch {
			case rec.Fingerprint != fp:
				return ErrMismatch
			case rec.Status == 0:
				w.Header().Set("Retry-After", "1")
				return ErrInProgress
			default:
				return replay(w, rec)
			}
		}
		return ErrInProgress
	}
}

func (m *Middleware) degraded(ctx context.Context, w http.ResponseWriter, r *http.Request, next HandlerFunc, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	m.opts.Log.WarnContext(ctx, "idempotency store unavailable", slog.Bool("fail_open", m.opts.FailOpen), slog.Any("error", err))
	if m.opts.FailOpen {
		return next(w, r)
	}
	return ErrUnavailable
}

// run calls next as the key's owner and stores or releases the result.
func (m *Middleware) run(w http.ResponseWriter, r *http.Request, next HandlerFunc, rkey, owner, fp string) (err error) {
	// Redis work after the handler must happen even if the client left.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	done := false
	defer func() {
		if !done { // a panic: free the key, then let the panic go on
			_ = releaseScript.Run(ctx, m.rdb, []string{rkey}, owner).Err()
		}
	}()
	rec := newRecorder(w, m.opts.MaxStored)
	err = next(rec, r)
	done = true

	if err != nil || rec.Status == 0 || rec.Status >= 500 || rec.overflow {
		if rerr := releaseScript.Run(ctx, m.rdb, []string{rkey}, owner).Err(); rerr != nil {
			m.opts.Log.WarnContext(ctx, "idempotency key not released; it frees itself after the lock TTL",
				slog.Any("error", rerr))
		}
		return err
	}
	stored, merr := json.Marshal(record{Fingerprint: fp, Status: rec.Status, Header: rec.header(), Body: rec.body.Bytes()})
	if merr == nil {
		merr = completeScript.Run(ctx, m.rdb, []string{rkey}, owner, stored, m.opts.TTL.Milliseconds()).Err()
	}
	if merr != nil && !errors.Is(merr, redis.Nil) {
		m.opts.Log.WarnContext(ctx, "idempotent response not stored; a retry after the lock TTL would run again",
			slog.Any("error", merr))
	}
	return nil
}

func replay(w http.ResponseWriter, rec record) error {
	for k, vs := range rec.Header {
		w.Header()[k] = vs
	}
	w.Header().Set(ReplayedHeader, "true")
	w.WriteHeader(rec.Status)
	_, err := w.Write(rec.Body)
	return err
}

func (m *Middleware) redisKey(scope, key string) string {
	h := sha256.New()
	h.Write([]byte(scope))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return m.opts.Prefix + hex.EncodeToString(h.Sum(nil))
}

func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", r.Method, r.URL.EscapedPath(), r.URL.RawQuery)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// notStored are headers that describe one delivery, not the response.
var notStored = []string{"Date", "Set-Cookie", "X-Correlation-Id", "Retry-After",
	"Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset", "Ratelimit-Policy"}

// recorder passes the response through (the stack's status-recording
// writer) and keeps a copy of what the handler set: the headers it added or
// changed, its body.
type recorder struct {
	statuswriter.Writer
	before   http.Header
	after    http.Header
	body     bytes.Buffer
	max      int
	overflow bool
}

func newRecorder(w http.ResponseWriter, max int) *recorder {
	return &recorder{Writer: statuswriter.Writer{ResponseWriter: w}, before: w.Header().Clone(), max: max}
}

func (rec *recorder) WriteHeader(code int) {
	if rec.Status == 0 && code >= 200 {
		rec.after = rec.Header().Clone()
	}
	rec.Writer.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.Status == 0 {
		rec.WriteHeader(http.StatusOK)
	}
	if !rec.overflow {
		if rec.body.Len()+len(b) > rec.max {
			rec.overflow = true
			rec.body = bytes.Buffer{}
		} else {
			rec.body.Write(b)
		}
	}
	return rec.Writer.Write(b)
}

// header returns the headers the handler added or changed.
func (rec *recorder) header() http.Header {
	out := http.Header{}
	for k, vs := range rec.after {
		if slices.Contains(notStored, k) || slices.Equal(rec.before[k], vs) {
			continue
		}
		out[k] = vs
	}
	return out
}
