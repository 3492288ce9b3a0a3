package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

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
