// Command registry is the OCI registry this project runs for itself where
// no other registry is at hand: the swarm lab's nodes pull the stack's
// images from it (scripts/swarm-lab.sh), and an air-gapped site can do the
// same. It is go-containerregistry's pkg/registry (the distribution API:
// blobs, chunked uploads, manifests, tags, catalog) behind a real
// http.Server, with blobs in memory, or on disk under BLOB_DIR.
//
// It has no authentication and no TLS: put it on a network only its
// clients reach (the lab's internal network, 127.0.0.1), and list it in
// the engines' insecure-registries.
//
//	registry serve         listen on LISTEN_ADDR (default :5000) until SIGTERM
//	registry healthcheck   GET /v2/ on loopback, exit 0 when it answers 200
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

// run serves or checks the registry as args say. ready, when not nil,
// receives the listening address once the server accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	addr := getenv("LISTEN_ADDR")
	if addr == "" {
		addr = ":5000"
	}
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		return serve(ctx, addr, getenv("BLOB_DIR"), stderr, ready)
	case "healthcheck":
		return healthcheck(ctx, addr)
	default:
		return fmt.Errorf("unknown command %q: want serve or healthcheck", cmd)
	}
}

func serve(ctx context.Context, addr, blobDir string, stderr io.Writer, ready chan<- string) error {
	opts := []registry.Option{registry.Logger(log.New(stderr, "", log.LstdFlags|log.LUTC))}
	where := "memory"
	if blobDir != "" {
		if err := os.MkdirAll(blobDir, 0o755); err != nil {
			return fmt.Errorf("BLOB_DIR: %w", err)
		}
		opts = append(opts, registry.WithBlobHandler(registry.NewDiskBlobHandler(blobDir)))
		where = blobDir
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           registry.New(opts...),
		ReadHeaderTimeout: 10 * time.Second,
		// Layers of hundreds of megabytes go through one request.
		ReadTimeout:  10 * time.Minute,
		WriteTimeout: 10 * time.Minute,
		IdleTimeout:  2 * time.Minute,
	}
	fmt.Fprintf(stderr, "registry: listening on %s, blobs in %s\n", ln.Addr(), where)
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func healthcheck(ctx context.Context, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", port)+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/: %s", strings.TrimSpace(resp.Status))
	}
	return nil
}
