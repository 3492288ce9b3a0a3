// Command benchbackend is the backend of `make bench-lb`: a tiny HTTP
// server answering GET /1k, /32k and /256k with that many bytes and a
// Content-Length, GET /chunked/1k, /chunked/32k and /chunked/256k with the
// same bodies chunked (no Content-Length), and /health, so the benchmark
// measures the proxies, not the backend. It is also the OTLP/HTTP sink of
// the traced lb (POST /v1/traces: the body is read and dropped, the answer
// is an empty export response), so tracing is measured with a receiver.
//
// Usage:
//
//	benchbackend -addr 127.0.0.1:18080
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "benchbackend:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	static := func(b []byte) http.HandlerFunc {
		n := strconv.Itoa(len(b))
		return func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h["Content-Type"] = []string{"application/octet-stream"}
			h["Content-Length"] = []string{n}
			_, _ = w.Write(b)
		}
	}
	// chunked answers without Content-Length, as a server does that
	// encodes as it goes (the api's JSON over 2 KB, most frameworks):
	// 4 KiB writes, and a flush at the end of a body smaller than that so
	// that net/http does not add a length itself.
	chunked := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header()["Content-Type"] = []string{"application/octet-stream"}
			for rest := b; len(rest) > 0; {
				n := min(len(rest), 4<<10)
				_, _ = w.Write(rest[:n])
				rest = rest[n:]
			}
			if len(b) < 4<<10 {
				w.(http.Flusher).Flush()
			}
		}
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"1k", 1 << 10}, {"32k", 32 << 10}, {"256k", 256 << 10}} {
		b := bytes.Repeat([]byte("b"), size.n)
		mux.HandleFunc("GET /"+size.name, static(b))
		mux.HandleFunc("GET /chunked/"+size.name, chunked(b))
	}
	mux.HandleFunc("GET /health", static([]byte(`{"status":"ok"}`)))
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
