package proxy

import (
	"net/http"
	"sync"
	"time"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/platform/statuswriter"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
)

// exchange is the per-request state the Edge hands down to the pool
// handlers, disguised as the http.ResponseWriter they write to: the
// stack's status-recording writer (its Status and Size feed the access log
// and metrics), carrying the request id, the client and the backends
// tried. Exchanges are pooled, so a request costs no allocation for them.
type exchange struct {
	statuswriter.Writer
	start       time.Time
	requestID   string
	fwd         Forwarded
	pool        string
	backend     *balancer.Backend
	attempts    int
	tried       []*balancer.Backend
	triedArray  [8]*balancer.Backend
	noAccessLog bool

	// The in-flight slots the request holds (the Edge's, its backend's),
	// given back early when it turns into a long-lived stream.
	edgeSlot    *gate
	clientSlot  *clientCap
	backendSlot *balancer.Backend
	backendWake *gate
}

// becameStream gives back the in-flight slots of a request whose answer
// is a long-lived stream: it holds a stream slot (Streams.admit) instead,
// and ordinary requests keep theirs.
func (x *exchange) becameStream() {
	x.leaveEdge()
	x.releaseBackend()
}

// leaveEdge gives back the Edge's slots (overall, per client), once.
func (x *exchange) leaveEdge() {
	if x.edgeSlot != nil {
		x.edgeSlot.leave()
		x.edgeSlot = nil
	}
	if x.clientSlot != nil {
		x.clientSlot.leave(x.fwd.Client)
		x.clientSlot = nil
	}
}

// holdBackend counts the request against b until releaseBackend, which
// wakes a request queued for a backend slot.
func (x *exchange) holdBackend(b *balancer.Backend, wake *gate) {
	b.Acquire()
	x.backendSlot, x.backendWake = b, wake
}

// releaseBackend ends the count holdBackend started, once.
func (x *exchange) releaseBackend() {
	if x.backendSlot != nil {
		x.backendSlot.Release()
		x.backendWake.signal()
		x.backendSlot, x.backendWake = nil, nil
	}
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func getExchange(w http.ResponseWriter) *exchange {
	x := exchangePool.Get().(*exchange)
	x.Reset(w)
	x.tried = x.triedArray[:0]
	return x
}

func putExchange(x *exchange) {
	clear(x.triedArray[:])
	*x = exchange{}
	exchangePool.Put(x)
}

// exchangeOf finds the exchange of a request that passed the Edge, or
// makes one for a handler used on its own.
func exchangeOf(w http.ResponseWriter, r *http.Request, p *Forwarder) *exchange {
	if x, ok := w.(*exchange); ok {
		return x
	}
	x := &exchange{Writer: statuswriter.Writer{ResponseWriter: w}, start: time.Now(), requestID: correlation.From(r.Header), fwd: forwardedFor(r, p.proxies)}
	x.tried = x.triedArray[:0]
	return x
}
