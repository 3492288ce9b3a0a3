// Package linkcheck checks that documentation and source links answer:
// status, final URL after at most 5 redirects, latency. It fetches URLs
// that users typed, so every connection goes through a netguard.Guard
// (resolved address checked at dial time, after every redirect), bodies
// are read to at most 64 KiB, each host gets a bounded number of
// concurrent checks and a circuit breaker that stops hammering a host
// that keeps failing.
package linkcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/netguard"
)

// Limits of one check.
const (
	MaxRedirects = 5
	MaxBodyBytes = 64 << 10
)

// Config configures a Checker; zero fields take the defaults.
type Config struct {
	Guard *netguard.Guard // nil: netguard's defaults (no allow list)
	// Timeout bounds one check, redirects included (10s).
	Timeout time.Duration
	// PerHost bounds concurrent checks of one host (2).
	PerHost int
	// BreakerFailures consecutive failures of a host open its breaker
	// (5) for BreakerCooldown (5m); meanwhile its links are reported
	// broken without a request.
	BreakerFailures int
	BreakerCooldown time.Duration
	UserAgent       string
	Now             func() time.Time
	// WrapTransport, when set, wraps the transport the checker sends with
	// (client spans: telemetry's ExternalTransport).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Checker checks links. It is safe for concurrent use.
type Checker struct {
	cfg    Config
	client *http.Client

	mu    sync.Mutex
	hosts map[string]*hostState
}

type hostState struct {
	sem       chan struct{}
	failures  int
	openUntil time.Time
}

// New returns a Checker.
func New(cfg Config) *Checker {
	if cfg.Guard == nil {
		cfg.Guard = &netguard.Guard{}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = 2
	}
	if cfg.BreakerFailures <= 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BreakerCooldown <= 0 {
		cfg.BreakerCooldown = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "docker-examples-linkcheck/1"
	}
	tr := &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the guard
		DialContext:           cfg.Guard.Dialer(5 * time.Second).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		MaxIdleConnsPerHost:   cfg.PerHost,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
	}
	var rt http.RoundTripper = tr
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(tr)
	}
	c := &Checker{cfg: cfg, hosts: map[string]*hostState{}}
	c.client = &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > MaxRedirects {
				return fmt.Errorf("more than %d redirects", MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s: URL", req.URL.Scheme)
			}
			return nil
		},
	}
	return c
}

func (c *Checker) host(h string) *hostState {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs, ok := c.hosts[h]
	if !ok {
		hs = &hostState{sem: make(chan struct{}, c.cfg.PerHost)}
		c.hosts[h] = hs
	}
	return hs
}

// CheckAll checks urls concurrently (bounded per host) and returns one
// result per URL, in order.
func (c *Checker) CheckAll(ctx context.Context, urls []string) []inventory.LinkResult {
	out := make([]inventory.LinkResult, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.Check(ctx, u)
		}()
	}
	wg.Wait()
	return out
}

// Check checks one URL. It never fails: problems are in the result.
func (c *Checker) Check(ctx context.Context, raw string) inventory.LinkResult {
	now := c.cfg.Now().UTC()
	res := inventory.LinkResult{URL: raw, CheckedAt: &now}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		res.State, res.Error = inventory.LinkBroken, "not an http or https URL"
		return res
	}
	hs := c.host(u.Hostname())
	c.mu.Lock()
	open := c.cfg.Now().Before(hs.openUntil)
	until := hs.openUntil
	c.mu.Unlock()
	if open {
		res.State = inventory.LinkBroken
		res.Error = fmt.Sprintf("not checked: %s failed %d times in a row; next try after %s", u.Hostname(), c.cfg.BreakerFailures, until.UTC().Format(time.RFC3339))
		return res
	}
	select {
	case hs.sem <- struct{}{}:
	case <-ctx.Done():
		res.State, res.Error = inventory.LinkBroken, "not checked: "+ctx.Err().Error()
		return res
	}
	defer func() { <-hs.sem }()

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	start := time.Now()
	status, final, err := c.fetch(ctx, http.MethodHead, raw)
	if err == nil && (status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented) {
		status, final, err = c.fetch(ctx, http.MethodGet, raw)
	}
	res.LatencyMS = time.Since(start).Milliseconds()
	res.Status, res.FinalURL = status, final
	failed := false
	switch {
	case errors.Is(err, netguard.ErrRefused):
		res.State, res.Error = inventory.LinkRefused, "refused: the target is a loopback, link-local, private or the stack's own address"
	case err != nil:
		res.State, res.Error = inventory.LinkBroken, describe(err)
		failed = true
	case status >= 400:
		res.State, res.Error = inventory.LinkBroken, fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
		failed = status >= 500
	default:
		res.State = inventory.LinkOK
	}
	c.mu.Lock()
	if failed {
		hs.failures++
		if hs.failures >= c.cfg.BreakerFailures {
			hs.openUntil = c.cfg.Now().Add(c.cfg.BreakerCooldown)
			hs.failures = 0
		}
	} else {
		hs.failures = 0
	}
	c.mu.Unlock()
	return res
}

func (c *Checker) fetch(ctx context.Context, method, raw string) (status int, final string, err error) {
	req, err := http.NewRequestWithContext(ctx, method, raw, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, MaxBodyBytes)
	return resp.StatusCode, resp.Request.URL.String(), nil
}

func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out"
	}
	return err.Error()
}
