package proxy

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

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
	body := strings.Repeat("x", 1024)
	for _, sized := range []bool{true, false} {
		name := "sized"
		if !sized {
			name = "chunked"
		}
		b.Run(name, func(b *testing.B) {
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
			fwd := NewForwarder(pool, Options{
				Attempts: 2, BufferBytes: 64 << 10, UpstreamTimeout: 5 * time.Second,
				Ejector:     balancer.Ejector{After: 1000, Base: time.Second, Max: time.Minute},
				BudgetRatio: 1, BudgetMin: 1000,
			}, m, NewStreams(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			pool.Update([]netip.AddrPort{netip.MustParseAddrPort(backend.Listener.Addr().String())}, time.Now())
			edge := NewEdge(NewRouter([]Route{{Path: "/", Handler: fwd}}, &Health{}),
				EdgeOptions{InstanceName: "lb-bench", MaxInFlight: 1000, AccessLog: NewAccessLog(io.Discard)}, m)
			front := httptest.NewServer(edge)
			b.Cleanup(front.Close)
			srv := front.URL
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			b.ReportAllocs()
			b.SetParallelism(2)
			b.ResetTimer()
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
		})
	}
}
