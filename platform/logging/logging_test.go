package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

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
		`plain`:       `"plain"`,
		"q\"b\\":      `"q\"b\\"`,
		"tab\tnl\n":   `"tab\tnl\n"`,
		"\x01\x7f":    `"\u0001\u007f"`,
		"bad\xffutf8": `"bad\ufffdutf8"`,
		"é ünïcode ✓": `"é ünïcode ✓"`,
	} {
		if got := string(logging.AppendJSONString(nil, in)); got != want {
			t.Errorf("AppendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
}
