// Package registry asks OCI distribution registries (Docker Hub with its
// token flow, ghcr.io, quay.io, any other) about an image reference, with
// github.com/google/go-containerregistry: the digest its tag resolves to
// (a HEAD, which costs no pull quota), the platforms of a multi-platform
// index, the image's created time and compressed size (only fetched when
// the digest changed since the previous check), and the repository's
// other tags for update detection (every page of the tag list).
//
// Image references are typed by users, so the client refuses registries
// on loopback, link-local and private addresses (netguard) unless their
// host is listed in Insecure (plain HTTP) or Allow (HTTPS).
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/netguard"
	"github.com/docker-examples/stack/services/api/internal/tagver"
)

// Config configures a Client.
type Config struct {
	// AuthFile is a Docker config.json ({"auths": {host: {"auth": …}}}).
	// Credential helpers are not run.
	AuthFile string
	// Insecure lists host:port reached over plain HTTP (REGISTRY_INSECURE).
	Insecure []string
	// Allow lists registry hosts on private addresses that may be reached
	// over HTTPS (REGISTRY_ALLOW).
	Allow []string
	// Guard refuses other private targets; nil uses netguard's defaults.
	Guard *netguard.Guard
	// UserAgent is sent with every request.
	UserAgent string
	// WrapTransport, when set, wraps the transports the client sends
	// with (client spans: telemetry's ExternalTransport).
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Client checks image references. It is safe for concurrent use; it does
// not retry beyond go-containerregistry's own retries of transient errors.
type Client struct {
	cfg      Config
	keychain authn.Keychain
	guarded  http.RoundTripper
	open     http.RoundTripper
	requests atomic.Int64
	// remaining is the pull quota the last registry that reported one
	// said was left (RateLimit-Remaining), -1 before any did.
	remaining atomic.Int64
}

// New returns a Client. A missing or malformed AuthFile is an error.
func New(cfg Config) (*Client, error) {
	kc := authn.Keychain(anonymous{})
	if cfg.AuthFile != "" {
		var err error
		if kc, err = loadKeychain(cfg.AuthFile); err != nil {
			return nil, err
		}
	}
	g := cfg.Guard
	if g == nil {
		g = &netguard.Guard{}
	}
	c := &Client{cfg: cfg, keychain: kc}
	c.remaining.Store(-1)
	wrap := cfg.WrapTransport
	if wrap == nil {
		wrap = func(rt http.RoundTripper) http.RoundTripper { return rt }
	}
	c.guarded = wrap(c.count(newTransport(g.Dialer(10 * time.Second).DialContext)))
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	c.open = wrap(c.count(newTransport(d.DialContext)))
	return c, nil
}

func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // a proxy would dial on our behalf, past the guard
		DialContext:           dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
}

// Requests is the number of HTTP requests sent to registries so far
// (token requests included).
func (c *Client) Requests() int64 { return c.requests.Load() }

// QuotaRemaining is the pull quota the last registry that reported one
// (a RateLimit-Remaining header, as Docker Hub sends on manifest
// requests) said was left; ok is false before any did.
func (c *Client) QuotaRemaining() (n int64, ok bool) {
	n = c.remaining.Load()
	return n, n >= 0
}

type countingTransport struct {
	next      http.RoundTripper
	n         *atomic.Int64
	remaining *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		// "76;w=21600": 76 pulls left in a window of 21600 s.
		v, _, _ := strings.Cut(resp.Header.Get("RateLimit-Remaining"), ";")
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n >= 0 {
			t.remaining.Store(n)
		}
	}
	return resp, err
}

func (c *Client) count(rt http.RoundTripper) http.RoundTripper {
	return countingTransport{next: rt, n: &c.requests, remaining: &c.remaining}
}

// Previous is what the last check found, so an unchanged digest costs no
// manifest or config fetch and a moved tag is noticed.
type Previous = inventory.RegistryFacts

// Check looks ref up (a normalised reference such as
// docker.io/library/postgres:17-alpine). prev may be nil. The returned
// facts have State ok; an error is a message a user can act on.
func (c *Client) Check(ctx context.Context, ref string, prev *Previous, f tagver.Filter) (inventory.RegistryFacts, error) {
	host := registryHost(ref)
	var opts []name.Option
	insecure := slices.Contains(c.cfg.Insecure, host)
	if insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return inventory.RegistryFacts{}, fmt.Errorf("not an image reference: %w", err)
	}
	rt := c.guarded
	if insecure || slices.Contains(c.cfg.Allow, host) || slices.Contains(c.cfg.Allow, r.Context().RegistryStr()) {
		rt = c.open
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(rt),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithRetryBackoff(remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}),
	}
	if c.cfg.UserAgent != "" {
		ropts = append(ropts, remote.WithUserAgent(c.cfg.UserAgent))
	}
	// One puller for the whole check: the HEAD, manifest, config and tag
	// list share its ping and token instead of paying for one each.
	puller, err := remote.NewPuller(ropts...)
	if err != nil {
		return inventory.RegistryFacts{}, err
	}
	ropts = append(ropts, remote.Reuse(puller))

	desc, err := remote.Head(r, ropts...)
	if err != nil {
		return inventory.RegistryFacts{}, explain(err, r)
	}
	facts := inventory.RegistryFacts{State: inventory.StateOK, Digest: desc.Digest.String()}
	if prev != nil && prev.Digest == facts.Digest && prev.Created != nil {
		facts.Platforms, facts.Created, facts.SizeBytes = prev.Platforms, prev.Created, prev.SizeBytes
	} else if err := c.describe(r, desc, &facts, ropts); err != nil {
		return inventory.RegistryFacts{}, explain(err, r)
	}

	tag, isTag := r.(name.Tag)
	if !isTag {
		return facts, nil // a digest reference never moves
	}
	up := &inventory.Update{}
	if prev != nil && prev.Digest != "" && prev.Digest != facts.Digest {
		up.DigestChanged, up.PreviousDigest = true, prev.Digest
	} else if prev != nil && prev.Update != nil && prev.Update.DigestChanged && prev.Digest == facts.Digest {
		// keep reporting a drift until the user acknowledges it by
		// editing the item (which clears the stored facts)
		up.DigestChanged, up.PreviousDigest = true, prev.Update.PreviousDigest
	}
	if _, ok := tagver.Parse(tag.TagStr()); ok {
		tags, err := remote.List(r.Context(), ropts...)
		if err != nil {
			return inventory.RegistryFacts{}, fmt.Errorf("listing tags: %w", explain(err, r))
		}
		if cand, ok := tagver.Newer(tag.TagStr(), tags, f); ok {
			up.NewestInMajor, up.Newest = cand.NewestInMajor, cand.Newest
		}
	}
	up.Available = up.NewestInMajor != "" || up.Newest != "" || up.DigestChanged
	facts.Update = up
	return facts, nil
}

// describe fills platforms, created and size from the manifest (and, for
// an index, the child for linux/amd64, else the first).
func (c *Client) describe(r name.Reference, desc *v1.Descriptor, facts *inventory.RegistryFacts, ropts []remote.Option) error {
	d, err := remote.Get(r, ropts...)
	if err != nil {
		return err
	}
	var img v1.Image
	if d.MediaType.IsIndex() {
		idx, err := d.ImageIndex()
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		var pick *v1.Descriptor
		for i, m := range im.Manifests {
			if m.Platform == nil || m.Platform.OS == "unknown" { // attestations
				continue
			}
			facts.Platforms = append(facts.Platforms, m.Platform.String())
			if pick == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == "amd64") {
				pick = &im.Manifests[i]
			}
		}
		if pick == nil {
			return nil
		}
		if img, err = idx.Image(pick.Digest); err != nil {
			return err
		}
	} else {
		if img, err = d.Image(); err != nil {
			return err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if !cf.Created.IsZero() {
		t := cf.Created.UTC()
		facts.Created = &t
	}
	if len(facts.Platforms) == 0 && cf.OS != "" {
		p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		facts.Platforms = []string{p.String()}
	}
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	size := m.Config.Size
	for _, l := range m.Layers {
		size += l.Size
	}
	facts.SizeBytes = size
	_ = desc
	return nil
}

// explain turns a client error into a sentence a user can act on.
func explain(err error, r name.Reference) error {
	if errors.Is(err, netguard.ErrRefused) {
		return fmt.Errorf("refused: %s is on a loopback, link-local or private address; list it in REGISTRY_ALLOW (HTTPS) or REGISTRY_INSECURE (HTTP) to allow it: %w", r.Context().RegistryStr(), netguard.ErrRefused)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s does not exist in its registry (tag or repository not found)", r.String())
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("the registry %s refused access to %s (HTTP %d): add credentials to REGISTRY_AUTH_FILE", r.Context().RegistryStr(), r.Context().RepositoryStr(), te.StatusCode)
		case http.StatusTooManyRequests:
			return fmt.Errorf("the registry %s rate-limited us (HTTP 429); the next check will try again", r.Context().RegistryStr())
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("%s does not exist in its registry (%s)", r.String(), d.Code)
			}
		}
		return fmt.Errorf("the registry answered HTTP %d: %s", te.StatusCode, te.Error())
	}
	return fmt.Errorf("registry %s: %w", r.Context().RegistryStr(), err)
}

// registryHost is the host[:port] part of a normalised reference.
func registryHost(ref string) string {
	i := strings.IndexByte(ref, '/')
	if i < 0 {
		return ""
	}
	h := ref[:i]
	if !strings.ContainsAny(h, ".:") && h != "localhost" {
		return "docker.io"
	}
	return h
}

type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }

// keychain answers credentials from a Docker config.json.
type keychain map[string]authn.AuthConfig

func loadKeychain(path string) (keychain, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("REGISTRY_AUTH_FILE: %w", err)
	}
	var f struct {
		Auths map[string]authn.AuthConfig `json:"auths"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("REGISTRY_AUTH_FILE: not a Docker config.json: %w", err)
	}
	kc := keychain{}
	for k, v := range f.Auths {
		kc[normalHost(k)] = v
	}
	return kc, nil
}

// normalHost maps the spellings of a registry in config.json to one key.
func normalHost(h string) string {
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		return name.DefaultRegistry
	}
	return h
}

// Resolve implements authn.Keychain.
func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := k[normalHost(r.RegistryStr())]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}
