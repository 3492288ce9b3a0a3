package proxy

import (
	"bufio"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/docker-examples/stack/platform/logging"
)

// AccessLog writes one JSON line per request, in the shape of the
// stack's slog lines (time, level, msg, service, correlation_id, trace_id
// when traced, ...).
// Lines are buffered and flushed at least every flushEvery by Run, as
// nginx's access_log buffer=... flush=... does, so logging costs no
// system call per request. Safe for concurrent use.
type AccessLog struct {
	mu  sync.Mutex
	bw  *bufio.Writer
	buf []byte
}

const flushEvery = 200 * time.Millisecond

// NewAccessLog returns an access log writing to w.
func NewAccessLog(w io.Writer) *AccessLog {
	return &AccessLog{bw: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 1024)}
}

// Run flushes the buffer periodically until ctx ends, then once more.
func (l *AccessLog) Run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			l.Flush()
			return
		case <-t.C:
			l.Flush()
		}
	}
}

// Flush writes out buffered lines.
func (l *AccessLog) Flush() {
	l.mu.Lock()
	_ = l.bw.Flush()
	l.mu.Unlock()
}

func (l *AccessLog) log(x *exchange, r *http.Request, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[:0]
	b = append(b, `{"time":"`...)
	b = end.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"INFO","msg":"request","service":"lb","correlation_id":`...)
	b = logging.AppendJSONString(b, x.requestID)
	if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
		var id [32]byte
		b = append(b, `,"trace_id":"`...)
		tid := sc.TraceID()
		hex.Encode(id[:], tid[:])
		b = append(b, id[:]...)
		b = append(b, `","span_id":"`...)
		sid := sc.SpanID()
		hex.Encode(id[:16], sid[:])
		b = append(b, id[:16]...)
		b = append(b, '"')
	}
	b = append(b, `,"method":`...)
	b = logging.AppendJSONString(b, r.Method)
	b = append(b, `,"path":`...)
	b = logging.AppendJSONString(b, logging.Clip(r.URL.Path, logging.MaxLoggedValue))
	b = append(b, `,"proto":`...)
	b = logging.AppendJSONString(b, r.Proto)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(x.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, x.Size, 10)
	b = append(b, `,"duration_ms":`...)
	b = strconv.AppendFloat(b, float64(end.Sub(x.start).Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"client":"`...)
	b = x.fwd.Client.AppendTo(b)
	b = append(b, '"')
	if x.pool != "" {
		b = append(b, `,"pool":`...)
		b = logging.AppendJSONString(b, x.pool)
	}
	if x.backend != nil {
		b = append(b, `,"backend":`...)
		b = logging.AppendJSONString(b, x.backend.HostPort)
	}
	if x.attempts > 1 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(x.attempts), 10)
	}
	if ua := r.Header["User-Agent"]; len(ua) > 0 {
		b = append(b, `,"user_agent":`...)
		b = logging.AppendJSONString(b, logging.Clip(ua[0], logging.MaxLoggedValue))
	}
	b = append(b, "}\n"...)
	_, _ = l.bw.Write(b)
	l.buf = b
}
