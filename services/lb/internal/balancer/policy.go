package balancer

import (
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/docker-examples/stack/services/lb/internal/config"
)

// Policy picks one backend of bs that f accepts, or nil. bs is sorted by
// address and not empty. Implementations are safe for concurrent use and
// must not allocate.
type Policy interface {
	Pick(r *http.Request, bs []*Backend, f Filter) *Backend
}

// Affinity is implemented by policies that tell the client where to come
// back (cookie stickiness): Stick adds what is needed to the response
// header h after b was picked for r.
type Affinity interface {
	Stick(h http.Header, r *http.Request, b *Backend)
}

// NewPolicy builds the policy p describes.
func NewPolicy(p config.Policy) Policy {
	switch p.Kind {
	case config.LeastRequests:
		return &LeastRequestsPolicy{}
	case config.Cookie:
		return &CookiePolicy{Name: p.Arg}
	case config.Hash:
		return &HashPolicy{Header: p.Arg}
	default:
		return &RoundRobinPolicy{}
	}
}

// RoundRobinPolicy takes available backends in turn, the seed's nginx
// default. During slow start a backend is skipped with a probability of
// 1-weight, so its share grows gradually.
type RoundRobinPolicy struct{ next atomic.Uint64 }

// Pick implements Policy.
func (p *RoundRobinPolicy) Pick(_ *http.Request, bs []*Backend, f Filter) *Backend {
	return roundRobin(&p.next, bs, f)
}

func roundRobin(next *atomic.Uint64, bs []*Backend, f Filter) *Backend {
	n := uint64(len(bs))
	start := next.Add(1) - 1
	var fallback *Backend
	for i := range n {
		b := bs[(start+i)%n]
		if !f.OK(b) {
			continue
		}
		if w := b.Weight(f.Now, f.SlowStart); w < 1 && rand.Float64() >= w {
			if fallback == nil {
				fallback = b
			}
			continue
		}
		return b
	}
	if fallback == nil {
		next.Add(^uint64(0)) // give the turn back for the relaxed pass
	}
	return fallback
}

// LeastRequestsPolicy picks two backends at random and takes the one with
// fewer requests in flight (the power of two choices), weighted by slow
// start.
type LeastRequestsPolicy struct{ next atomic.Uint64 }

// Pick implements Policy.
func (p *LeastRequestsPolicy) Pick(_ *http.Request, bs []*Backend, f Filter) *Backend {
	n := len(bs)
	if n == 1 {
		if f.OK(bs[0]) {
			return bs[0]
		}
		return nil
	}
	i := rand.IntN(n)
	j := rand.IntN(n - 1)
	if j >= i {
		j++
	}
	a, b := bs[i], bs[j]
	okA, okB := f.OK(a), f.OK(b)
	switch {
	case okA && okB:
		la := float64(a.InFlight()+1) / a.Weight(f.Now, f.SlowStart)
		lb := float64(b.InFlight()+1) / b.Weight(f.Now, f.SlowStart)
		if lb < la {
			return b
		}
		return a
	case okA:
		return a
	case okB:
		return b
	}
	// Both random picks unusable: scan for any usable backend.
	return roundRobin(&p.next, bs, f)
}

// CookiePolicy keeps a client on the backend named by its cookie Name
// while that backend is available; otherwise it picks round-robin and
// Stick sets the cookie. The cookie holds Backend.ID, never an address.
type CookiePolicy struct {
	Name string
	next atomic.Uint64
}

// Pick implements Policy.
func (p *CookiePolicy) Pick(r *http.Request, bs []*Backend, f Filter) *Backend {
	if id := cookieValue(r.Header, p.Name); id != "" {
		for _, b := range bs {
			if b.ID == id {
				if f.OK(b) {
					return b
				}
				break
			}
		}
	}
	return roundRobin(&p.next, bs, f)
}

// Stick implements Affinity.
func (p *CookiePolicy) Stick(h http.Header, r *http.Request, b *Backend) {
	if cookieValue(r.Header, p.Name) == b.ID {
		return
	}
	c := http.Cookie{Name: p.Name, Value: b.ID, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}
	h.Add("Set-Cookie", c.String())
}

// cookieValue finds cookie name in the Cookie headers without parsing
// (and allocating for) the others.
func cookieValue(h http.Header, name string) string {
	for _, line := range h["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if ok && k == name {
				return strings.Trim(v, `"`)
			}
		}
	}
	return ""
}

// HashPolicy sends equal keys to the same backend by rendezvous
// (highest random weight) hashing: when a backend joins or leaves, only
// the keys it wins or held move. The key is the value of Header, or the
// client address when Header is empty or absent from the request.
type HashPolicy struct{ Header string }

// Pick implements Policy.
func (p *HashPolicy) Pick(r *http.Request, bs []*Backend, f Filter) *Backend {
	var key uint64
	if v := headerValue(r.Header, p.Header); v != "" {
		key = hashString(v)
	} else if f.ClientIP.IsValid() {
		a := f.ClientIP.As16()
		key = hashBytes(a[:])
	}
	var best *Backend
	var bestScore uint64
	for _, b := range bs {
		if !f.OK(b) {
			continue
		}
		if s := mix(key ^ b.keyHash); best == nil || s > bestScore {
			best, bestScore = b, s
		}
	}
	return best
}

func headerValue(h http.Header, canonicalName string) string {
	if canonicalName == "" {
		return ""
	}
	if v := h[canonicalName]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
