// Package auth decides who makes a request. The HTTP layer asks an
// Authenticator before every write; implementations plug in behind that one
// interface: API keys from a file (here), and sessions or keys stored in the
// database elsewhere, combined with Chain.
package auth

import (
	"context"
	"errors"
	"net/http"
)

var (
	// ErrNoCredentials means the request carries no credential this
	// Authenticator understands; a Chain then asks the next one.
	ErrNoCredentials = errors.New("no credentials")
	// ErrInvalidCredentials means a credential was given and is wrong.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrForbidden means the caller is known but may not do this (for
	// example a session write without its CSRF token).
	ErrForbidden = errors.New("forbidden")
)

// Principal is who a request acts for.
type Principal struct {
	Subject string // e.g. "admin" or "api-key:1a2b3c4d"
	Method  string // "api_key" or "session"
}

// Authenticator identifies the caller of r. It returns ErrNoCredentials
// when r carries none of its kind, ErrInvalidCredentials or ErrForbidden
// (possibly wrapped) when they are wrong; other errors are failures of the
// authenticator itself. Implementations must be safe for concurrent use.
type Authenticator interface {
	Authenticate(r *http.Request) (Principal, error)
}

// Chain asks each Authenticator in turn and returns the first answer that
// is not ErrNoCredentials. An empty chain, or one where nobody recognises
// the request, returns ErrNoCredentials.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (Principal, error) {
	for _, a := range c {
		p, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return p, err
	}
	return Principal{}, ErrNoCredentials
}

type ctxKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal stored by WithPrincipal.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
