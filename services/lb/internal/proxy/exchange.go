package proxy

import (
	"net/http"
	"sync"
	"time"

	"github.com/docker-examples/stack/platform/correlation"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
)

// exchange is the per-request state the Edge hands down to the pool
// handlers, disguised as the http.ResponseWriter they write to: it
// records the status and size for the access log and metrics, and
// carries the request id, the client and the backends tried. Exchanges
// are pooled, so a request costs no allocation for them.
type exchange struct {
	w           http.ResponseWriter
	status      int
	bytes       int64
	start       time.Time
	requestID   string
	fwd         Forwarded
	pool        string
	backend     *balancer.Backend
	attempts    int
	tried       []*balancer.Backend
	triedArray  [8]*balancer.Backend
	noAccessLog bool
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

func getExchange(w http.ResponseWriter) *exchange {
	x := exchangePool.Get().(*exchange)
	x.w = w
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
	x := &exchange{w: w, start: time.Now(), requestID: correlation.From(r.Header), fwd: forwardedFor(r, p.proxies)}
	x.tried = x.triedArray[:0]
	return x
}

func (x *exchange) Header() http.Header { return x.w.Header() }

func (x *exchange) WriteHeader(code int) {
	if x.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		x.status = code
	}
	x.w.WriteHeader(code)
}

func (x *exchange) Write(p []byte) (int, error) {
	if x.status == 0 {
		x.status = http.StatusOK
	}
	n, err := x.w.Write(p)
	x.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher.
func (x *exchange) Flush() {
	if f, ok := x.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the server's writer
// (deadlines, hijacking).
func (x *exchange) Unwrap() http.ResponseWriter { return x.w }
