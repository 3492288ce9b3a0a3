package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/docker-examples/stack/platform/logging"
)

func TestCorrelationIDOnEveryLine(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "api", slog.LevelInfo)
	ctx := logging.WithCorrelationID(context.Background(), "req-42")
	log.InfoContext(ctx, "hello", "k", 1)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not JSON: %q", buf.String())
	}
	if line["correlation_id"] != "req-42" || line["service"] != "api" || line["msg"] != "hello" {
		t.Errorf("got %v, want correlation_id=req-42 service=api msg=hello", line)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"": slog.LevelInfo, "debug": slog.LevelDebug, "WARN": slog.LevelWarn, "error": slog.LevelError} {
		got, err := logging.ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := logging.ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) = nil error")
	}
}

func TestTraceIDBesideCorrelationID(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "api", slog.LevelInfo)
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(logging.WithCorrelationID(context.Background(), "req-42"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	log.With("k", 1).InfoContext(ctx, "hello")
	log.InfoContext(context.Background(), "untraced")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	var first, second map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(lines[1], &second); err != nil {
		t.Fatal(err)
	}
	if first["trace_id"] != tid.String() || first["span_id"] != sid.String() || first["correlation_id"] != "req-42" {
		t.Errorf("got %v, want trace_id, span_id and correlation_id", first)
	}
	if _, ok := second["trace_id"]; ok {
		t.Errorf("an untraced line has a trace_id: %v", second)
	}
}

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:        `"plain"`,
		"q\"b\\":       `"q\"b\\"`,
		"tab\tnl\n":    `"tab\tnl\n"`,
		"\x01\x7f":     "\"\\u0001\x7f\"",
		"\u2028\u2029": `"\u2028\u2029"`,
		"bad\xffutf8":  `"bad\ufffdutf8"`,
		"é ünïcode ✓":  `"é ünïcode ✓"`,
	} {
		if got := string(logging.AppendJSONString(nil, in)); got != want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestLinesAreJSONHandlers checks that every line is the one
// slog.JSONHandler writes (with the context's ids after the attributes),
// on the encoder's own path and on the slow one it leaves groups and
// other kinds to.
func TestLinesAreJSONHandlers(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	traced := trace.ContextWithSpanContext(logging.WithCorrelationID(context.Background(), "req-42"),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		level slog.Level
		msg   string
		attrs []slog.Attr
		with  []any
		group string
	}{
		{name: "access line", ctx: logging.WithCorrelationID(context.Background(), "0123abcd"), msg: "request", attrs: []slog.Attr{
			slog.String("method", "GET"), slog.String("route", "/api/inventory/:id"), slog.String("path", "/api/inventory/x"),
			slog.Int("status", 200), slog.Int64("bytes", 412), slog.Float64("duration_ms", 0.183), slog.String("client_ip", "192.0.2.7"),
		}},
		{name: "traced", ctx: traced, level: slog.LevelWarn, msg: "slow", with: []any{"k", 1}},
		{name: "escapes", msg: "q\"b\\ tab\t nl\n cr\r \x01 \x7f <&> bad\xff ok é \u2028\u2029 ✓", attrs: []slog.Attr{
			slog.String("k\"ey", "v\x00"), slog.Bool("b", true), slog.Uint64("u", math.MaxUint64), slog.Int64("i", math.MinInt64),
			slog.Duration("d", 1500*time.Millisecond),
		}},
		{name: "floats", msg: "f", attrs: []slog.Attr{
			slog.Float64("zero", 0), slog.Float64("neg0", math.Copysign(0, -1)), slog.Float64("small", 1e-7), slog.Float64("tiny", 1.5e-300),
			slog.Float64("big", 1e21), slog.Float64("below e", 5e20), slog.Float64("huge", 1.7e308), slog.Float64("plain", 123456.789), slog.Float64("neg", -0.001),
			slog.Float64("third", 1.0/3),
		}},
		{name: "not finite", msg: "nan", attrs: []slog.Attr{slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(1))}},
		{name: "other kinds", msg: "any", attrs: []slog.Attr{
			slog.Any("err", errors.New("boom")), slog.Time("at", time.Date(2026, 12, 1, 14, 0, 0, 5, time.UTC)),
			slog.Group("g", slog.Int("n", 1)), slog.Any("list", []int{1, 2}),
		}},
		{name: "group", msg: "grouped", group: "req", attrs: []slog.Attr{slog.Int("n", 1)}},
		{name: "empty key", msg: "e", attrs: []slog.Attr{slog.Int("", 1), {}}},
		{name: "with any", msg: "w", with: []any{"err", errors.New("x")}, attrs: []slog.Attr{slog.Int("n", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			at := time.Date(2026, 12, 1, 14, 2, 6, 123456789, time.FixedZone("", 3600))
			r := slog.NewRecord(at, tc.level, tc.msg, 0)
			r.AddAttrs(tc.attrs...)

			var got bytes.Buffer
			h := logging.New(&got, "api", slog.LevelInfo).With(tc.with...)
			if tc.group != "" {
				h = h.WithGroup(tc.group)
			}
			if err := h.Handler().Handle(ctx, r); err != nil {
				t.Fatal(err)
			}

			var want bytes.Buffer
			var jh slog.Handler = slog.NewJSONHandler(&want, nil)
			jh = jh.WithAttrs([]slog.Attr{slog.String("service", "api")})
			if len(tc.with) > 0 {
				jh = slog.New(jh).With(tc.with...).Handler()
			}
			if tc.group != "" {
				jh = jh.WithGroup(tc.group)
			}
			wr := r.Clone()
			if id := logging.CorrelationID(ctx); id != "" {
				wr.AddAttrs(slog.String("correlation_id", id))
			}
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				wr.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
			}
			if err := jh.Handle(ctx, wr); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("line differs from slog.JSONHandler's (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	log := logging.New(&buf, "api", slog.LevelWarn)
	log.Info("dropped")
	log.Warn("kept")
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"msg":"kept"`) {
		t.Errorf("got %q, want the warning only", buf.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the BufferedWriter's timer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestBufferedWriterHoldsInfoLinesUntilAWarning(t *testing.T) {
	var out syncBuffer
	bw := logging.NewBufferedWriter(&out, time.Hour)
	log := logging.New(bw, "api", slog.LevelInfo)
	log.Info("first")
	log.Info("second")
	if got := out.String(); got != "" {
		t.Fatalf("written before a flush: %q", got)
	}
	log.Warn("trouble")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"msg":"first"`) || !strings.Contains(lines[2], `"msg":"trouble"`) {
		t.Fatalf("after a warning, got %q, want the three lines in order", lines)
	}
	log.Info("last")
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"msg":"last"`) {
		t.Errorf("Close did not write the line it held: %q", out.String())
	}
	log.Info("after close")
	if !strings.Contains(out.String(), `"msg":"after close"`) {
		t.Errorf("a line after Close was not written at once: %q", out.String())
	}
}

func TestBufferedWriterWritesWithinItsInterval(t *testing.T) {
	var out syncBuffer
	bw := logging.NewBufferedWriter(&out, 10*time.Millisecond)
	defer bw.Close()
	logging.New(bw, "api", slog.LevelInfo).Info("soon")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"msg":"soon"`) {
		if time.Now().After(deadline) {
			t.Fatal("the line was never written without a flush")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBufferedWriterKeepsLinesWhole(t *testing.T) {
	var out syncBuffer
	bw := logging.NewBufferedWriter(&out, time.Millisecond)
	log := logging.New(bw, "api", slog.LevelInfo)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				log.Info("line", "g", g, "i", i, "pad", strings.Repeat("x", 100))
			}
		})
	}
	wg.Wait()
	if err := bw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("a line is not JSON (lines mixed): %q", l)
		}
	}
}

func TestLogAttrsIsLoggersLine(t *testing.T) {
	ctx := logging.WithCorrelationID(context.Background(), "req-7")
	for _, tc := range []struct {
		name  string
		level slog.Level
		attrs []slog.Attr
		with  []any
		group string
	}{
		{name: "short", attrs: []slog.Attr{slog.String("method", "GET"), slog.Int("status", 200)}},
		{name: "access line", attrs: []slog.Attr{ // more than a record holds inline
			slog.String("method", "GET"), slog.String("route", "/api/inventory/:id"), slog.String("path", "/api/inventory/x"),
			slog.Int("status", 200), slog.Int64("bytes", 412), slog.Float64("duration_ms", 0.183), slog.String("client_ip", "192.0.2.7"),
		}},
		{name: "warning", level: slog.LevelWarn, attrs: []slog.Attr{slog.Bool("b", true), slog.Duration("d", time.Second)}},
		{name: "other kinds", attrs: []slog.Attr{slog.Int("n", 1), slog.Any("err", errors.New("boom")), slog.Float64("nan", math.NaN())}},
		{name: "with", with: []any{"k", 1}, attrs: []slog.Attr{slog.Int("n", 2)}},
		{name: "with any", with: []any{"err", errors.New("x")}, attrs: []slog.Attr{slog.Int("n", 3)}},
		{name: "group", group: "req", attrs: []slog.Attr{slog.Int("n", 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a, b bytes.Buffer
			logger := func(w io.Writer) *slog.Logger {
				l := logging.New(w, "api", slog.LevelInfo).With(tc.with...)
				if tc.group != "" {
					l = l.WithGroup(tc.group)
				}
				return l
			}
			logger(&a).LogAttrs(ctx, tc.level, "request", tc.attrs...)
			logging.LogAttrs(ctx, logger(&b), tc.level, "request", tc.attrs...)
			// The lines differ in their time only.
			strip := func(s string) string { return s[strings.Index(s, `"level"`):] }
			if diff := cmp.Diff(strip(a.String()), strip(b.String())); diff != "" {
				t.Errorf("LogAttrs line differs from the logger's (-want +got):\n%s", diff)
			}
		})
	}
	var b bytes.Buffer
	logging.LogAttrs(ctx, logging.New(&b, "api", slog.LevelWarn), slog.LevelInfo, "dropped")
	if strings.Contains(b.String(), "dropped") {
		t.Error("LogAttrs wrote a line below the logger's level")
	}
}

// BenchmarkRequestLine is an access log line, to a file as a service's
// stdout often is: slog.JSONHandler (what New used to return, with the
// correlation id added to the record), New's handler, and New's handler
// on a BufferedWriter.
func BenchmarkRequestLine(b *testing.B) {
	ctx := logging.WithCorrelationID(context.Background(), "9f86d081884c7d65")
	line := func(log *slog.Logger) {
		logging.LogAttrs(ctx, log, slog.LevelInfo, "request",
			slog.String("method", "GET"), slog.String("route", "/api/inventory/:id"),
			slog.String("path", "/api/inventory/0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a"),
			slog.Int("status", 200), slog.Int64("bytes", 412), slog.Float64("duration_ms", 0.183),
			slog.String("client_ip", "192.0.2.7"))
	}
	file := func(b *testing.B) *os.File {
		f, err := os.Create(filepath.Join(b.TempDir(), "log"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		return f
	}
	b.Run("slog.JSONHandler", func(b *testing.B) {
		log := slog.New(addCorrelationID{slog.NewJSONHandler(file(b), nil)}).With("service", "api")
		b.ReportAllocs()
		for b.Loop() {
			line(log)
		}
	})
	b.Run("New", func(b *testing.B) {
		log := logging.New(file(b), "api", slog.LevelInfo)
		b.ReportAllocs()
		for b.Loop() {
			line(log)
		}
	})
	b.Run("New+BufferedWriter", func(b *testing.B) {
		w := logging.NewBufferedWriter(file(b), 100*time.Millisecond)
		defer w.Close()
		log := logging.New(w, "api", slog.LevelInfo)
		b.ReportAllocs()
		for b.Loop() {
			line(log)
		}
	})
}

// addCorrelationID is how New's handler added the correlation id before
// it encoded lines itself.
type addCorrelationID struct{ slog.Handler }

func (h addCorrelationID) Handle(ctx context.Context, r slog.Record) error {
	if id := logging.CorrelationID(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h addCorrelationID) WithAttrs(as []slog.Attr) slog.Handler {
	return addCorrelationID{h.Handler.WithAttrs(as)}
}

// A client-chosen value is cut for the log at a rune boundary, and the
// line says how much was left out.
func TestClip(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 10, "abcdefghij"},
		{"abcdefghijk", 10, "abcdefghij…[+1 bytes]"},
		{"aaaaaaaaaé", 10, "aaaaaaaaa…[+2 bytes]"}, // é is two bytes: not split
	} {
		if got := logging.Clip(c.in, c.max); got != c.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}
