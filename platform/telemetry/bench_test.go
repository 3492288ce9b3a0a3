package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/docker-examples/stack/platform/benchcpu"
	"go.opentelemetry.io/otel/trace"
)

// BenchmarkContextProxyHandler is what tracing adds to one request of the
// lb: ContextProxyHandler (the server span), the pool's SetRoute, and the
// forwarder's traceparent, around a handler that does nothing else, with
// tracing off, at the default sampler and with every request sampled
// (OTEL_TRACES_SAMPLER_ARG=1), set up by Start, exporting over OTLP/HTTP
// through the batch span processor to a sink in the process. The request has no traceparent (as wrk's), so every trace
// starts here. cpu-ns/op over the lb's CPU time per request
// (scripts/bench-lb.sh) is tracing's share of it:
//
//	go test -run '^$' -bench ContextProxyHandler -count 10 ./platform/telemetry
func BenchmarkContextProxyHandler(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	for _, mode := range []struct {
		name string
		env  map[string]string // nil: tracing off
	}{
		{"off", nil},
		{"default", map[string]string{}},
		{"all", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			tel := &Telemetry{}
			if mode.env != nil {
				mode.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.URL
				var err error
				if tel, err = Start(context.Background(), "lb", func(k string) string { return mode.env[k] }); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
			}
			var buf [TraceparentLen]byte
			h := tel.ContextProxyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				SetRoute(r.Context(), r.Method, "api")
				if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
					_ = AppendTraceparent(buf[:0], sc)
				}
				w.WriteHeader(http.StatusOK)
			}), nil)
			r := httptest.NewRequest("GET", "/api/items", nil)
			r.RemoteAddr = "127.0.0.1:40000"
			w := discardWriter{http.Header{}}
			b.ReportAllocs()
			cpu := benchcpu.Start()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
			// The process's CPU time (the batch span processor's goroutine
			// and the collector's included), steadier than ns/op on a
			// shared machine.
			cpu.Report(b)
		})
	}
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w discardWriter) WriteHeader(int)             {}
