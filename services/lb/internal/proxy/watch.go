package proxy

import (
	"context"
	"errors"
	"sync"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
)

// errBackendLost ends a connect to a backend marked down meanwhile.
var errBackendLost = errors.New("backend marked down")

// watch lets one attempt give up on its backend when the backend is
// marked down by its health checks or ejected (balancer.Backend.Watch)
// before its answer arrived. A machine that froze or dropped off the
// network keeps the attempt's connection open and never answers, so
// without this the attempt would wait for the upstream timeout.
//
// It gives up only when nothing is lost by it: while connecting (no byte
// sent yet, any method), or while waiting for the answer to a request
// that may be sent again (idempotent, or with an Idempotency-Key, and a
// body kept in memory); never once the answer has started. And only when
// retryElsewhere agrees (another backend is available and the retry
// budget pays for it). fire runs on a goroutine of its own, started when
// the backend is marked down; the attempt's own goroutine calls dial,
// connected, sending and disarm. A watch is one allocation per attempt:
// no context unless the attempt dials.
type watch struct {
	mu         sync.Mutex
	armed      bool // fire may still act
	sent       bool // bytes of the request may have reached the backend
	replay     bool // the request may be sent again once sent
	gaveUp     bool
	conn       *upConn
	cancelDial context.CancelCauseFunc // while dialling

	// What retryElsewhere asks: a retry is allowed at all (mayRetry), a
	// backend not in tried is available, and the budget pays.
	f        *Forwarder
	tried    []*balancer.Backend
	mayRetry bool
}

// retryElsewhere reports whether the request may go to another backend,
// and takes the retry from the budget if so.
func (w *watch) retryElsewhere() bool {
	if !w.mayRetry || !w.f.otherAvailable(w.tried) {
		return false
	}
	return w.f.budget.withdraw()
}

// dial opens a new connection from p, ending the dial when the attempt
// is given up (errBackendLost) or ctx ends.
func (w *watch) dial(ctx context.Context, p *connPool) (*upConn, error) {
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	w.mu.Lock()
	if w.gaveUp {
		w.mu.Unlock()
		return nil, errBackendLost
	}
	w.cancelDial = cancel
	w.mu.Unlock()
	c, err := p.dialConn(dctx)
	w.mu.Lock()
	w.cancelDial = nil
	w.mu.Unlock()
	return c, err
}

// BackendLost is balancer.LostHook's: it calls fire.
func (w *watch) BackendLost() { w.fire() }

// fire gives up on the attempt if it is allowed to: it ends the connect,
// or makes the blocked read of the answer return at once.
func (w *watch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.armed || w.gaveUp || w.sent && !w.replay || !w.retryElsewhere() {
		return
	}
	w.gaveUp = true
	switch {
	case w.conn != nil:
		_ = w.conn.SetDeadline(alreadyPast)
	case w.cancelDial != nil:
		w.cancelDial(errBackendLost)
	}
}

// connected records the connection the attempt got (nil on a failed
// connect) and reports false when the attempt was given up meanwhile.
func (w *watch) connected(c *upConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.conn = c
	return !w.gaveUp
}

// sending records that the request is about to go out, and reports false
// when the attempt was given up before.
func (w *watch) sending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = true
	return !w.gaveUp
}

// disarm stops the watch and reports whether it gave up on the attempt.
// After it returns, fire does nothing.
func (w *watch) disarm() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	return w.gaveUp
}
