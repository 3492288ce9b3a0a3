package logging

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"
)

// handler writes the lines slog.JSONHandler writes, byte for byte, and
// adds the context's correlation id, trace id and span id after a record's
// attributes. Records whose values are all strings, integers, finite
// floats, booleans or durations, logged without groups (every access log
// line), are encoded here: slog.JSONHandler encodes each float with
// json.Marshal and the context's attributes cost a copy of the record,
// together a third of the access log's CPU time in the api's profile.
// Anything else goes to slow, a slog.JSONHandler with the same attributes.
// Both write whole lines through one lockedWriter, so lines never mix.
type handler struct {
	slow  slog.Handler
	out   *lockedWriter
	flush flusher // out's writer, when it holds lines back
	level slog.Leveler
	// pre holds the attributes of WithAttrs, encoded, each with its
	// leading comma.
	pre []byte
	// fast is false once WithGroup or an attribute of another kind was
	// added: every record then goes to slow.
	fast bool
}

func newHandler(w io.Writer, level slog.Leveler) *handler {
	out := &lockedWriter{w: w}
	f, _ := w.(flusher)
	return &handler{
		slow:  slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}),
		out:   out,
		flush: f,
		level: level,
		fast:  true,
	}
}

// lockedWriter serialises the fast and the slow path's writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes r's line; a line at Warn or above is flushed at once from a
// writer that holds lines back, with the lines before it.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	return h.flushWarning(r.Level, h.handle(ctx, r))
}

// flushWarning flushes the lines held back when a line at level was
// written and level is Warn or above; it returns err, or the flush's.
func (h *handler) flushWarning(level slog.Level, err error) error {
	if h.flush != nil && level >= slog.LevelWarn {
		if ferr := h.flush.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) handle(ctx context.Context, r slog.Record) error {
	id := CorrelationID(ctx)
	sc := trace.SpanContextFromContext(ctx)
	if h.fast {
		if done, err := h.writeFast(r.Time, r.Level, r.Message, nil, &r, id, sc); done {
			return err
		}
	}
	if id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	// The trace the request is part of, when it is traced (platform/telemetry).
	if sc.IsValid() {
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.slow.Handle(ctx, r)
}

// logAttrs is Handle for a line LogAttrs makes, without a slog.Record:
// the attributes are encoded from attrs as they are, with no copy into a
// record (whose room for five spills to the heap). done is false when the
// line is one for Handle.
func (h *handler) logAttrs(ctx context.Context, t time.Time, level slog.Level, msg string, attrs []slog.Attr) (done bool, err error) {
	if !h.fast {
		return false, nil
	}
	if done, err = h.writeFast(t, level, msg, attrs, nil, CorrelationID(ctx), trace.SpanContextFromContext(ctx)); !done {
		return false, nil
	}
	return true, h.flushWarning(level, err)
}

// writeFast encodes a line (appendLine) and writes it; done is false, and
// nothing written, when a value is not one appendLine encodes.
func (h *handler) writeFast(t time.Time, level slog.Level, msg string, attrs []slog.Attr, r *slog.Record, id string, sc trace.SpanContext) (done bool, err error) {
	bp := bufPool.Get().(*[]byte)
	b, ok := h.appendLine((*bp)[:0], t, level, msg, attrs, r, id, sc)
	if ok {
		_, err = h.out.Write(b)
	}
	if cap(b) <= 64<<10 { // a huge line's buffer is not kept
		*bp = b
		bufPool.Put(bp)
	}
	return ok, err
}

// appendLine appends a line as slog.JSONHandler writes it, with the
// attributes of r when r is not nil, else attrs; ok is false when a value
// is not one this encoder knows.
func (h *handler) appendLine(b []byte, t time.Time, level slog.Level, msg string, attrs []slog.Attr, r *slog.Record, id string, sc trace.SpanContext) (_ []byte, ok bool) {
	b = append(b, '{')
	if !t.IsZero() {
		t = t.Round(0)
		if y := t.Year(); y < 0 || y >= 10000 {
			return b, false
		}
		b = append(b, `"time":"`...)
		b = t.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = AppendJSONString(b, level.String())
	b = append(b, `,"msg":`...)
	b = AppendJSONString(b, msg)
	b = append(b, h.pre...)
	ok = true
	if r != nil {
		r.Attrs(func(a slog.Attr) bool {
			b, ok = appendAttr(b, a)
			return ok
		})
	} else {
		for _, a := range attrs {
			if b, ok = appendAttr(b, a); !ok {
				break
			}
		}
	}
	if !ok {
		return b, false
	}
	if id != "" {
		b = append(b, `,"correlation_id":`...)
		b = AppendJSONString(b, id)
	}
	if sc.IsValid() {
		var hex [32]byte
		tid, sid := sc.TraceID(), sc.SpanID()
		b = append(b, `,"trace_id":"`...)
		b = append(b, appendHex(hex[:0], tid[:])...)
		b = append(b, `","span_id":"`...)
		b = append(b, appendHex(hex[:0], sid[:])...)
		b = append(b, '"')
	}
	return append(b, "}\n"...), true
}

func appendHex(dst, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		dst = append(dst, digits[c>>4], digits[c&0xf])
	}
	return dst
}

// appendAttr appends `,"key":value`; ok is false for a kind it leaves
// to slog (groups, times, values of any type, log valuers), an empty key
// or a float JSON cannot hold.
func appendAttr(b []byte, a slog.Attr) (_ []byte, ok bool) {
	if a.Key == "" {
		return b, false
	}
	b = append(b, ',')
	b = AppendJSONString(b, a.Key)
	b = append(b, ':')
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		b = AppendJSONString(b, v.String())
	case slog.KindInt64:
		b = strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		b = strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindBool:
		b = strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		b = strconv.AppendInt(b, int64(v.Duration()), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return b, false
		}
		b = appendFloat(b, f)
	default:
		return b, false
	}
	return b, true
}

// appendFloat appends f as encoding/json encodes a float64 (which is what
// slog.JSONHandler calls): ES6 number formatting.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 becomes e-9, as encoding/json writes it
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// AppendJSONString appends s as a JSON string, quoted as
// slog.JSONHandler quotes it (so a line this package writes is the one
// slog would): quotes, backslashes and control characters escaped, HTML
// characters not, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped. The one JSON string writer of the services' hand-built lines
// (log lines, access logs, problem+json bodies).
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := *h
	n.slow = h.slow.WithAttrs(as)
	if n.fast {
		pre := append([]byte(nil), h.pre...)
		for _, a := range as {
			var ok bool
			if pre, ok = appendAttr(pre, a); !ok {
				n.fast = false
				break
			}
		}
		n.pre = pre
	}
	return &n
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.slow = h.slow.WithGroup(name)
	n.fast = false
	return &n
}

// flusher is a writer that holds lines back (*BufferedWriter).
type flusher interface{ Flush() error }
