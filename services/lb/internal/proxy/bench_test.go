package proxy

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docker-examples/stack/platform/benchcpu"
	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/config"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
)

// BenchmarkProxy1K is GET of a 1 KiB answer through the edge, router and
// forwarder to one backend (net/http, sized and unsized answers), from 4
// keep-alive clients over loopback. Run it with -cpuprofile and read the
// lb's part under (*Edge).ServeHTTP; the backend and the client are in
// the same process.
func BenchmarkProxy1K(b *testing.B) {
	for _, sized := range []bool{true, false} {
		b.Run(sizedName(sized), func(b *testing.B) { benchProxy1K(b, sized, nil) })
	}
}

// BenchmarkProxy1KTraced is BenchmarkProxy1K with tracing on as the lb's
// serve wires it (telemetry.ContextProxyHandler around the edge, the span
// named after the pool), set up by telemetry.Start at the default sampler
// (parentbased_traceidratio at telemetry.DefaultSampleRatio) and with
// every request sampled ("all", OTEL_TRACES_SAMPLER_ARG=1), exporting
// over OTLP/HTTP through a batch span processor to a sink in the process
// that drops the spans. The clients send no traceparent (as wrk
// and h2load in scripts/bench-lb.sh), so the lb starts every trace.
// Compare it with BenchmarkProxy1K for what tracing costs a request:
//
//	go test -run '^$' -bench 'Proxy1K$' -count 10 ./services/lb/internal/proxy > off.txt
//	go test -run '^$' -bench 'Proxy1KTraced/.*/default' -count 10 ./services/lb/internal/proxy | sed 's/Traced\(.*\)\/default/\1/' > on.txt
//	benchstat off.txt on.txt
func BenchmarkProxy1KTraced(b *testing.B) {
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(sink.Close)
	for _, sized := range []bool{true, false} {
		for _, sampler := range []struct {
			name string
			arg  string // OTEL_TRACES_SAMPLER_ARG
		}{
			{"default", ""},
			{"all", "1"},
		} {
			b.Run(sizedName(sized)+"/"+sampler.name, func(b *testing.B) {
				env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": sink.URL, "OTEL_TRACES_SAMPLER_ARG": sampler.arg}
				tel, err := telemetry.Start(context.Background(), "lb", func(k string) string { return env[k] })
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
				benchProxy1K(b, sized, &benchWrap{
					pool: func(name string, fwd http.Handler) http.Handler {
						return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							telemetry.SetRoute(r.Context(), r.Method, name)
							fwd.ServeHTTP(w, r)
						})
					},
					front: func(edge http.Handler) http.Handler { return tel.ContextProxyHandler(edge, nil) },
				})
			})
		}
	}
}

func sizedName(sized bool) string {
	if sized {
		return "sized"
	}
	return "chunked"
}

// benchWrap wraps the pool's handler before the router gets it, and the
// edge, as serve does with tracing on.
type benchWrap struct {
	pool  func(name string, fwd http.Handler) http.Handler
	front func(edge http.Handler) http.Handler
}

// benchProxy1K runs the benchmark, with wrap's handlers when not nil.
func benchProxy1K(b *testing.B, sized bool, wrap *benchWrap) {
	body := strings.Repeat("x", 1024)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if sized {
			w.Header().Set("Content-Length", "1024")
		} else {
			w.(http.Flusher).Flush() // no length: chunked
		}
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(backend.Close)
	pool := balancer.NewPool("api", config.Policy{Kind: config.RoundRobin}, 1000, 0)
	m := metrics.New()
	var fwd http.Handler = NewForwarder(pool, Options{
		Attempts: 2, BufferBytes: 64 << 10, UpstreamTimeout: 5 * time.Second,
		Ejector:     balancer.Ejector{After: 1000, Base: time.Second, Max: time.Minute},
		BudgetRatio: 1, BudgetMin: 1000,
	}, m, NewStreams(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	pool.Update([]netip.AddrPort{netip.MustParseAddrPort(backend.Listener.Addr().String())}, time.Now())
	if wrap != nil {
		fwd = wrap.pool("api", fwd)
	}
	var edge http.Handler = NewEdge(NewRouter([]Route{{Path: "/", Handler: fwd}}, &Health{}),
		EdgeOptions{InstanceName: "lb-bench", MaxInFlight: 1000, AccessLog: NewAccessLog(io.Discard)}, m)
	if wrap != nil {
		edge = wrap.front(edge)
	}
	front := httptest.NewServer(edge)
	b.Cleanup(front.Close)
	srv := front.URL
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ReportAllocs()
	b.SetParallelism(2)
	b.ResetTimer()
	cpu := benchcpu.Start()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(srv + "/api/x")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
		}
	})
	// CPU time per request (the process's: client, lb and backend), steadier
	// than ns/op on a machine shared with other work.
	cpu.Report(b)
}
