package httpapi

import (
	"context"
	"math"
	"net/http"
	"strconv"
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
			setRateLimitHeaders(c.Response().Header(), res)
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

// setRateLimitHeaders writes the RateLimit-* headers of the IETF draft for
// r (none when r is unknown) and, for a refused request, Retry-After in
// whole seconds (at least 1).
func setRateLimitHeaders(h http.Header, r ratelimit.Result) {
	if !r.Known {
		return
	}
	// One backing array for the four values, each a slice of one.
	v := [...]string{
		strconv.Itoa(r.Limit.Burst),
		strconv.Itoa(r.Remaining),
		strconv.Itoa(ceilSeconds(r.ResetAfter)),
		strconv.Itoa(r.Limit.Rate) + ";w=" + strconv.Itoa(ceilSeconds(r.Limit.Period)),
	}
	vs := v[:]
	h[headerLimit], h[headerRemaining], h[headerReset], h[headerPolicy] = vs[0:1:1], vs[1:2:2], vs[2:3:3], vs[3:4:4]
	if !r.Allowed {
		h[headerRetryAfter] = []string{strconv.Itoa(max(1, ceilSeconds(r.RetryAfter)))}
	}
}

func ceilSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
