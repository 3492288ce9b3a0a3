package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync/atomic"

	"golang.org/x/crypto/argon2"

	"github.com/docker-examples/stack/platform/secret"
)

// Argon2id parameters: the OWASP minimum for argon2id (19 MiB, 2 passes,
// one lane), about 30 ms per check on one core. At most maxHashing checks
// run at once, so a burst of logins cannot take more than
// maxHashing*19 MiB of memory.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	maxHashing   = 2
)

// Admin is the one account of the UI, whose password comes from a secret
// (ADMIN_PASSWORD or ADMIN_PASSWORD_FILE). The password is hashed with
// argon2id when the Admin is made and forgotten; only the hash stays in
// memory. It is safe for concurrent use.
type Admin struct {
	user    [32]byte // sha256 of the username, for a length-blind compare
	salt    []byte
	hash    []byte
	hashing chan struct{}
	waiting atomic.Int32 // checks hashing or waiting to
}

// maxWaiting bounds the checks queued behind the maxHashing that run: a
// flood of logins gets ErrBusy (503) at once rather than a queue of
// goroutines and request bodies that grows without end.
const maxWaiting = 32

// ErrBusy means too many password checks are already queued: 503, try
// again. It is an ErrUnavailable.
var ErrBusy = fmt.Errorf("%w: too many sign-in attempts in progress", ErrUnavailable)

// NewAdmin hashes password for username. An empty password gives an Admin
// that accepts no login.
func NewAdmin(username string, password secret.Value) *Admin {
	a := &Admin{user: sha256.Sum256([]byte(username)), salt: make([]byte, 16), hashing: make(chan struct{}, maxHashing)}
	_, _ = rand.Read(a.salt)
	if !password.IsZero() {
		a.hash = argon2.IDKey([]byte(password.Reveal()), a.salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	}
	return a
}

// Check reports whether username and password are the admin's. It takes
// the same time whether the username, the password or both are wrong: the
// password is always hashed and both comparisons are constant-time.
func (a *Admin) Check(username, password string) bool {
	ok, _ := a.CheckContext(context.Background(), username, password)
	return ok
}

// CheckContext is Check with a bounded queue: at most maxHashing checks
// hash at once and maxWaiting wait for their turn; beyond that, or when
// ctx ends while waiting, it returns an error (ErrBusy, or ctx's) without
// hashing.
func (a *Admin) CheckContext(ctx context.Context, username, password string) (bool, error) {
	if a.waiting.Add(1) > maxHashing+maxWaiting {
		a.waiting.Add(-1)
		return false, ErrBusy
	}
	defer a.waiting.Add(-1)
	select {
	case a.hashing <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	got := argon2.IDKey([]byte(password), a.salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-a.hashing
	u := sha256.Sum256([]byte(username))
	userOK := subtle.ConstantTimeCompare(u[:], a.user[:])
	passOK := subtle.ConstantTimeCompare(got, a.hash) // 0 when a.hash is nil
	return userOK&passOK == 1, nil
}
