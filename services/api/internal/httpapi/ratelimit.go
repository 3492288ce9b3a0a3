package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/ratelimit"
)

// Limiter takes one request from a budget (*ratelimit.Limiter, whose
// counters every replica shares). With Redis failing it fails open (an
// allowed Result that is not Known) or returns ratelimit.ErrUnavailable.
type Limiter interface {
	Allow(ctx context.Context, key string, limit ratelimit.Limit) (ratelimit.Result, error)
}

// RateLimit is the request budgets of /api. A nil Limiter, or a zero
// limit (configured "off"), limits nothing.
type RateLimit struct {
	// Limiter counts every /api request once the caller is identified: a
	// caller that identified itself (an API key, a session) draws from
	// its own budget, PerKey, whatever address it comes from; anyone else
	// from their client address's, PerIP.
	Limiter       Limiter
	PerIP, PerKey ratelimit.Limit
	// LoginLimiter counts sign-in attempts per client address, Login,
	// after Limiter: a budget of their own against password guessing.
	LoginLimiter Limiter
	Login        ratelimit.Limit
}

// budget names the budget a request draws from and its limit.
type budget func(r *http.Request) (key string, limit ratelimit.Limit)

func (s *server) requestBudget(r *http.Request) (string, ratelimit.Limit) {
	if p, ok := auth.FromContext(r.Context()); ok {
		return "principal:" + p.Subject, s.RateLimit.PerKey
	}
	return ratelimit.IPKey(s.proxies.ClientIP(r)), s.RateLimit.PerIP
}

func (s *server) loginBudget(r *http.Request) (string, ratelimit.Limit) {
	return "login:" + ratelimit.IPKey(s.proxies.ClientIP(r)), s.RateLimit.Login
}

// limit takes each request from its budget in l. The answer carries the
// RateLimit-* headers (none when Redis failed open); a request over its
// budget is a *ratelimit.LimitedError (429) with Retry-After.
func limit(l Limiter, by budget) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		var values limitValues
		return func(c echo.Context) error {
			r := c.Request()
			key, lim := by(r)
			if lim.Rate == 0 {
				return next(c)
			}
			res, err := l.Allow(r.Context(), key, lim)
			if err != nil {
				return err
			}
			setRateLimitHeaders(c.Response().Header(), res, values.of(res.Limit))
			if !res.Allowed {
				return &ratelimit.LimitedError{RetryAfter: max(time.Second, res.RetryAfter)}
			}
			return next(c)
		}
	}
}

// The RateLimit-* names in net/http's canonical form ("Ratelimit-Limit"):
// assigned to the header map directly they cost no canonicalising copy per
// request, which Header.Set makes of a name not in that form.
var (
	headerLimit      = http.CanonicalHeaderKey("RateLimit-Limit")
	headerRemaining  = http.CanonicalHeaderKey("RateLimit-Remaining")
	headerReset      = http.CanonicalHeaderKey("RateLimit-Reset")
	headerPolicy     = http.CanonicalHeaderKey("RateLimit-Policy")
	headerRetryAfter = http.CanonicalHeaderKey("Retry-After")
)

// limitHeaders are the header values a limit alone decides, formatted
// once: RateLimit-Limit and RateLimit-Policy. Shared by every response
// (net/http only reads them, and Add copies a full slice).
type limitHeaders struct {
	limit         ratelimit.Limit
	burst, policy []string
}

func newLimitHeaders(l ratelimit.Limit) *limitHeaders {
	return &limitHeaders{
		limit:  l,
		burst:  []string{strconv.Itoa(l.Burst)},
		policy: []string{strconv.Itoa(l.Rate) + ";w=" + strconv.Itoa(ceilSeconds(l.Period))},
	}
}

// limitValues keeps the limitHeaders of the last limit a middleware
// used (a route has one or two: per client address, per principal). Safe
// for concurrent use.
type limitValues struct{ last atomic.Pointer[limitHeaders] }

func (v *limitValues) of(l ratelimit.Limit) *limitHeaders {
	if h := v.last.Load(); h != nil && h.limit == l {
		return h
	}
	h := newLimitHeaders(l)
	v.last.Store(h)
	return h
}

// setRateLimitHeaders writes the RateLimit-* headers of the IETF draft for
// r (none when r is unknown), with lh the values of r.Limit, and, for a
// refused request, Retry-After in whole seconds (at least 1).
func setRateLimitHeaders(h http.Header, r ratelimit.Result, lh *limitHeaders) {
	if !r.Known {
		return
	}
	// One backing array for the two values per request, each a slice of one.
	v := [...]string{strconv.Itoa(r.Remaining), strconv.Itoa(ceilSeconds(r.ResetAfter))}
	vs := v[:]
	h[headerLimit], h[headerRemaining], h[headerReset], h[headerPolicy] = lh.burst, vs[0:1:1], vs[1:2:2], lh.policy
	if !r.Allowed {
		h[headerRetryAfter] = []string{strconv.Itoa(max(1, ceilSeconds(r.RetryAfter)))}
	}
}

func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
