// Package logging builds the JSON slog logger every service uses and carries
// a request's correlation id through its context, so every line logged for a
// request can be found by that id.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseLevel reads LOG_LEVEL values: debug, info, warn, error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL: %q is not one of debug, info, warn, error", s)
	}
	return l, nil
}

// New returns a JSON logger writing to w that adds the service name to every
// line, and the correlation id and the trace_id and span_id of the context,
// when it has them. Its lines are slog.JSONHandler's; each is one Write
// to w.
func New(w io.Writer, service string, level slog.Level) *slog.Logger {
	return slog.New(newHandler(w, level)).With("service", service)
}

type ctxKey struct{}

// WithCorrelationID returns a context carrying id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// CorrelationID returns the id stored by WithCorrelationID, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// LogAttrs is l.LogAttrs without the caller's program counter, which
// slog.Logger takes for every line with a stack walk (runtime.Callers)
// and only a handler that adds the source would read: the services'
// never do. For the lines logged on every request. With this package's
// handler the attributes are encoded as they are, without a slog.Record.
func LogAttrs(ctx context.Context, l *slog.Logger, level slog.Level, msg string, attrs ...slog.Attr) {
	h := l.Handler()
	if !h.Enabled(ctx, level) {
		return
	}
	t := time.Now()
	if jh, ok := h.(*handler); ok {
		if done, _ := jh.logAttrs(ctx, t, level, msg, attrs); done {
			return
		}
	}
	r := slog.NewRecord(t, level, msg, 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}

// MaxLoggedValue is how much of a client-chosen value (a path, a
// User-Agent) a log line keeps: headers may be 16 KiB, a log line of every
// request should not be.
const MaxLoggedValue = 512

// Clip returns s when it is at most max bytes, else its first bytes up to
// max (cut at a UTF-8 boundary) followed by "…" and how many bytes were
// left out, so a reader sees that the value was cut.
func Clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…[+" + strconv.Itoa(len(s)-cut) + " bytes]"
}
