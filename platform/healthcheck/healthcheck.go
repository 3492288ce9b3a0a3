// Package healthcheck implements the `healthcheck` subcommand every service
// binary has: it asks the service's own /health endpoint on loopback, so an
// image needs no shell and no curl for its HEALTHCHECK.
package healthcheck

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Check GETs url and returns nil when it answers 2xx within timeout.
func Check(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("healthcheck: %s answered %s", url, resp.Status)
	}
	return nil
}

// LoopbackURL turns a listen address such as ":8000" or "0.0.0.0:8000" into
// the loopback URL of path on that port.
func LoopbackURL(listenAddr, path string) string {
	port := listenAddr
	for i := len(listenAddr) - 1; i >= 0; i-- {
		if listenAddr[i] == ':' {
			port = listenAddr[i+1:]
			break
		}
	}
	return "http://127.0.0.1:" + port + path
}
