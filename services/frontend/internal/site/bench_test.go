package site

import (
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// discardWriter is a ResponseWriter that keeps nothing, so a benchmark
// measures the site's own work, not a recorder's.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkServe is one request of the first view (the document, an asset)
// through the fast path the server takes and through the net/http handler,
// without the network: `go test -bench . -benchmem ./internal/site`.
func BenchmarkServe(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:1")
	s, err := New(Config{UI: ui, APIURL: u, Log: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	var asset string
	for _, f := range ui.Closure("/index.html") {
		if f.Immutable {
			asset = f.URLPath
			break
		}
	}
	fast := s.FastHandler()
	for _, path := range []string{"/", asset} {
		b.Run("fast"+path, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			b.ReportAllocs()
			for b.Loop() {
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.SetRequestURI(path)
				ctx.Request.Header.Set("Accept-Encoding", "gzip, deflate, br")
				fast(&ctx)
			}
		})
		b.Run("nethttp"+path, func(b *testing.B) {
			r, _ := http.NewRequest(http.MethodGet, path, nil)
			r.Header.Set("Accept-Encoding", "gzip, deflate, br")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				s.ServeHTTP(w, r)
			}
		})
	}
}
