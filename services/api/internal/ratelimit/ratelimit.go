// Package ratelimit limits request rates across every API replica with one
// set of counters in Redis (go-redis/redis_rate, a GCRA limiter: smooth,
// with bursts up to the limit).
//
// Who is limited is the caller's decision (a budget key per request):
// typically an authenticated API key or session, else the client address
// (IPKey) that package forwarded derived from trusted proxies only. The
// API's HTTP layer turns a Result into the RateLimit-* headers of the IETF
// draft, and a refused request into ErrLimited (429 problem+json
// rate-limited, with Retry-After).
//
// Redis is an optimisation here too: when it fails, the limiter fails open
// (the request passes, the outage is logged once per LogEvery) unless
// Options.FailClosed, when requests get ErrUnavailable (503).
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Limit is a rate: Rate events per Period, with bursts up to Burst.
type Limit = redis_rate.Limit

// ErrLimited is returned, wrapped in a *LimitedError, for a request over
// its limit: render it as 429 with the problem type rate-limited.
var ErrLimited = errors.New("rate limit exceeded")

// ErrUnavailable is returned when Redis fails and the limiter fails closed:
// render it as 503 unavailable.
var ErrUnavailable = errors.New("rate limiter unavailable")

// LimitedError tells how long to wait. errors.Is(err, ErrLimited) holds.
type LimitedError struct {
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limit exceeded: retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrLimited) true.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// ParseLimit reads a rate such as "120/m", "10/s", "1000/h" (also "min",
// "sec", "hour"); the burst equals the rate.
func ParseLimit(s string) (Limit, error) {
	n, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	rate, err := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err != nil || rate <= 0 {
		return Limit{}, fmt.Errorf("%q is not a rate like 120/m", s)
	}
	switch strings.ToLower(strings.TrimSpace(unit)) {
	case "s", "sec", "second":
		return redis_rate.PerSecond(rate), nil
	case "m", "min", "minute":
		return redis_rate.PerMinute(rate), nil
	case "h", "hour":
		return redis_rate.PerHour(rate), nil
	}
	return Limit{}, fmt.Errorf("%q is not a rate like 120/m (units: s, m, h)", s)
}

// Options tune a Limiter.
type Options struct {
	// FailClosed refuses requests with ErrUnavailable when Redis fails.
	// The default is to let them through.
	FailClosed bool
	// BypassFor is how long the limiter skips Redis after a failure,
	// answering as Redis being down, so an outage costs one failed call
	// per interval rather than one per request. Default 1s.
	BypassFor time.Duration
	// LogEvery bounds the outage log to one line per interval, default 10s.
	LogEvery time.Duration
	// Log receives outage lines. Default: discarded.
	Log *slog.Logger
	// Registerer receives the decision counter; nil registers nothing.
	Registerer prometheus.Registerer
}

// Limiter decides whether a request may proceed. It is safe for concurrent
// use; replicas built on one Redis share their counters.
type Limiter struct {
	l        *redis_rate.Limiter
	opts     Options
	bypass   atomic.Int64 // unix nanoseconds until which Redis is skipped
	lastLog  atomic.Int64 // unix nanoseconds
	requests *prometheus.CounterVec
	// allowed, limited, failed are requests' series, looked up once.
	allowed, limited, failed lazyCounter
}

// lazyCounter is the series of one label value, looked up on first use:
// never before, so /metrics lists only results that happened, as
// WithLabelValues on each use did.
type lazyCounter struct {
	once sync.Once
	c    prometheus.Counter
}

func (l *lazyCounter) inc(v *prometheus.CounterVec, value string) {
	l.once.Do(func() { l.c = v.WithLabelValues(value) })
	l.c.Inc()
}

// New returns a Limiter on rdb. It fails only if its metrics cannot be
// registered.
func New(rdb redis.UniversalClient, opts Options) (*Limiter, error) {
	if opts.BypassFor <= 0 {
		opts.BypassFor = time.Second
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{
		l:    redis_rate.NewLimiter(rdb),
		opts: opts,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_ratelimit_requests_total",
			Help: "Rate-limit decisions: allowed, limited, or error (Redis failed; see fail-open/closed).",
		}, []string{"result"}),
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(l.requests); err != nil {
			return nil, fmt.Errorf("ratelimit metrics: %w", err)
		}
	}
	return l, nil
}

// Result is one decision.
type Result struct {
	// Known is false when Redis failed and the limiter failed open: the
	// other fields are then meaningless and no headers are sent.
	Known      bool
	Allowed    bool
	Limit      Limit
	Remaining  int
	RetryAfter time.Duration // until one more request is allowed; 0 when allowed
	ResetAfter time.Duration // until the full burst is available again
}

// Allow takes one request from key's budget. With Redis failing it returns
// an allowed, unknown Result (fail open) or ErrUnavailable (fail closed).
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	if time.Now().UnixNano() < l.bypass.Load() {
		return l.degraded()
	}
	res, err := l.l.Allow(ctx, key, limit)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		now := time.Now()
		l.bypass.Store(now.Add(l.opts.BypassFor).UnixNano())
		if last := l.lastLog.Load(); now.UnixNano()-last >= int64(l.opts.LogEvery) && l.lastLog.CompareAndSwap(last, now.UnixNano()) {
			l.opts.Log.Warn("rate limiter cannot reach redis",
				slog.Bool("fail_closed", l.opts.FailClosed), slog.Any("error", err))
		}
		return l.degraded()
	}
	r := Result{
		Known:      true,
		Allowed:    res.Allowed > 0,
		Limit:      limit,
		Remaining:  res.Remaining,
		RetryAfter: max(res.RetryAfter, 0),
		ResetAfter: max(res.ResetAfter, 0),
	}
	if r.Allowed {
		l.allowed.inc(l.requests, "allowed")
	} else {
		l.limited.inc(l.requests, "limited")
	}
	return r, nil
}

func (l *Limiter) degraded() (Result, error) {
	l.failed.inc(l.requests, "error")
	if l.opts.FailClosed {
		return Result{}, ErrUnavailable
	}
	return Result{Allowed: true}, nil
}

// IPKey is the budget key of a client address. IPv6 clients are limited by
// their /64, the block one subscriber usually holds, so rotating addresses
// inside it does not multiply the budget. An invalid address (no peer
// known) shares one budget.
func IPKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "ip:unknown"
	case a.Is4() || a.Is4In6():
		var b [len("ip:255.255.255.255")]byte
		return string(a.Unmap().AppendTo(append(b[:0], "ip:"...))) // one allocation, not two
	default:
		p, _ := a.WithZone("").Prefix(64)
		return "ip:" + p.String()
	}
}
