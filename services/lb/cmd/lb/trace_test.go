package main

import (
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/docker-examples/stack/platform/servetest"
)

// otlpSink is an OTLP/HTTP trace receiver that keeps the spans it is sent.
type otlpSink struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			s.spans = append(s.spans, ss.Spans...)
		}
	}
}

// traceHeaders is what a backend received: traceparent and tracestate.
type traceHeaders struct{ parent, state []string }

// startTracedLB runs the lb with tracing on (every trace it starts
// sampled) in front of a backend that records the trace headers of the
// proxied requests (/api/…) it gets,
// exporting to sink; extra adds to the environment (an empty value
// removes the variable). stop ends the lb and
// waits for it, which flushes its spans.
func startTracedLB(t *testing.T, sink *otlpSink, extra map[string]string) (base string, got func() []traceHeaders, stop func()) {
	t.Helper()
	var mu sync.Mutex
	var seen []traceHeaders
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The lb's own health checks reach this backend too: record
		// the proxied requests only.
		if strings.HasPrefix(r.URL.Path, "/api/") {
			mu.Lock()
			seen = append(seen, traceHeaders{r.Header.Values("Traceparent"), r.Header.Values("Tracestate")})
			mu.Unlock()
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(backend.Close)
	collector := httptest.NewServer(sink)
	t.Cleanup(collector.Close)
	up := strings.TrimPrefix(backend.URL, "http://")
	env := map[string]string{"PORT": "0", "HTTPS_PORT": "0", "ADMIN_PORT": "0", "GRACE_PERIOD": "0s",
		"API_UPSTREAM": up, "FRONTEND_UPSTREAM": up, "ACCESS_LOG": "false",
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL, "OTEL_TRACES_SAMPLER_ARG": "1"}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	base, done, cancel := servetest.Start(t, run, env)
	return base, func() []traceHeaders {
			mu.Lock()
			defer mu.Unlock()
			return append([]traceHeaders(nil), seen...)
		}, func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run = %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("lb still running 30s after its context ended")
			}
		}
}

func get(t *testing.T, url string, header map[string]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d, want 200", url, resp.StatusCode)
	}
}

// A trusted peer's trace (loopback is trusted by default) is continued:
// the backend receives the lb's server span, named after the pool, as its
// parent, in the caller's trace with the caller's trace state and
// sampling decision; a span is exported for the sampled request only.
func TestTracingContinuesATrustedCallersTrace(t *testing.T) {
	const (
		tid       = "4bf92f3577b34da6a3ce929d0e0e4736"
		sampled   = "00-" + tid + "-00f067aa0ba902b7-01"
		unsampled = "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
	)
	sink := &otlpSink{}
	base, got, stop := startTracedLB(t, sink, nil)
	get(t, base+"/api/items", map[string]string{"traceparent": sampled, "tracestate": "vendor=1"})
	get(t, base+"/api/items", map[string]string{"traceparent": unsampled})
	stop()

	seen := got()
	if len(seen) != 2 || len(seen[0].parent) != 1 || len(seen[1].parent) != 1 {
		t.Fatalf("backend got trace headers %q, want one traceparent per request", seen)
	}
	parent := strings.Split(seen[0].parent[0], "-")
	if len(parent) != 4 || parent[0] != "00" || parent[1] != tid || parent[2] == "00f067aa0ba902b7" || parent[3] != "01" {
		t.Errorf("backend got traceparent %q, want the lb's span in trace %s, sampled", seen[0].parent[0], tid)
	}
	if len(seen[0].state) != 1 || seen[0].state[0] != "vendor=1" {
		t.Errorf("backend got tracestate %q, want the caller's [vendor=1]", seen[0].state)
	}
	if p := seen[1].parent[0]; !strings.HasPrefix(p, "00-5bf92f3577b34da6a3ce929d0e0e4736-") || !strings.HasSuffix(p, "-00") || strings.Contains(p, "00f067aa0ba902b7") {
		t.Errorf("backend got traceparent %q for the unsampled caller, want the lb's span in its trace, unsampled", p)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.spans) != 1 {
		t.Fatalf("exported %d spans, want 1 (the sampled request's)", len(sink.spans))
	}
	s := sink.spans[0]
	if hex.EncodeToString(s.TraceId) != tid || hex.EncodeToString(s.ParentSpanId) != "00f067aa0ba902b7" || hex.EncodeToString(s.SpanId) != parent[2] {
		t.Errorf("span trace %x parent %x id %x, want trace %s, parent the caller's, id the one the backend got (%s)",
			s.TraceId, s.ParentSpanId, s.SpanId, tid, parent[2])
	}
	if s.Name != "GET api" || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("span %q kind %v, want \"GET api\", server", s.Name, s.Kind)
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes {
		attrs[kv.Key] = kv.Value.String()
	}
	for k, want := range map[string]string{"http.request.method": "GET", "url.path": "/api/items", "http.route": "api", "http.response.status_code": "200"} {
		if !strings.Contains(attrs[k], want) {
			t.Errorf("span attribute %s = %q, want %s", k, attrs[k], want)
		}
	}
}

// An untrusted peer's traceparent and tracestate are dropped: the
// backend gets the lb's own new trace.
func TestTracingStartsANewTraceForAnUntrustedCaller(t *testing.T) {
	sink := &otlpSink{}
	base, got, stop := startTracedLB(t, sink, map[string]string{"TRACE_TRUSTED_PEERS": "none"})
	get(t, base+"/api/items", map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "vendor=1"})
	stop()
	seen := got()
	if len(seen) != 1 || len(seen[0].parent) != 1 || strings.Contains(seen[0].parent[0], "4bf92f3577b34da6a3ce929d0e0e4736") || len(seen[0].state) != 0 {
		t.Fatalf("backend got trace headers %q, want one traceparent of a new trace and no tracestate", seen)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.spans) != 1 || len(sink.spans[0].ParentSpanId) != 0 || !strings.Contains(seen[0].parent[0], hex.EncodeToString(sink.spans[0].SpanId)) {
		t.Errorf("exported %d spans, want 1, a root, the backend's parent", len(sink.spans))
	}
}

// With tracing off the lb still drops an untrusted peer's trace headers,
// so that a backend which traces does not continue them, and passes a
// trusted peer's on.
func TestTracingOffStillDropsAnUntrustedCallersTrace(t *testing.T) {
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		trusted string
		want    int
	}{{"none", 0}, {"127.0.0.0/8", 1}} {
		base, got, stop := startTracedLB(t, &otlpSink{}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "", "TRACE_TRUSTED_PEERS": tc.trusted})
		get(t, base+"/api/items", map[string]string{"traceparent": parent, "tracestate": "vendor=1"})
		stop()
		seen := got()
		if len(seen) != 1 || len(seen[0].parent) != tc.want || len(seen[0].state) != tc.want || tc.want == 1 && seen[0].parent[0] != parent {
			t.Errorf("TRACE_TRUSTED_PEERS=%s: backend got trace headers %q, want the caller's %d time(s)", tc.trusted, seen, tc.want)
		}
	}
}
