// Command benchbackend is the backend of `make bench-lb`: a tiny HTTP
// server answering GET /1k with 1 KiB and GET /32k with 32 KiB, and
// /health, so the benchmark measures the proxies, not the backend.
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
	body1k := bytes.Repeat([]byte("a"), 1<<10)
	body32k := bytes.Repeat([]byte("b"), 32<<10)
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
	mux.HandleFunc("GET /1k", static(body1k))
	mux.HandleFunc("GET /32k", static(body32k))
	mux.HandleFunc("GET /health", static([]byte(`{"status":"ok"}`)))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
