package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// Route sends requests whose path matches Path to Pool. A Path ending in
// "/" matches every path below it; any other Path matches exactly. The
// longest matching Path wins.
type Route struct {
	Path string `json:"path"`
	Pool string `json:"pool"`
}

// Pool is a named set of backends found by resolving its upstreams.
type Pool struct {
	Name       string
	Upstreams  []Upstream
	Policy     Policy
	HealthPath string // active health check path, default /health
}

// Upstream is a DNS name (or an address) and a port.
type Upstream struct {
	Host string
	Port uint16
}

func (u Upstream) String() string { return net.JoinHostPort(u.Host, strconv.Itoa(int(u.Port))) }

// PolicyKind names a selection policy.
type PolicyKind string

// The selection policies.
const (
	RoundRobin    PolicyKind = "round_robin"
	LeastRequests PolicyKind = "least_requests"
	Cookie        PolicyKind = "cookie"
	Hash          PolicyKind = "hash"
)

// Policy is a selection policy and its argument: the cookie name for
// Cookie, the header to hash for Hash ("" hashes the client address).
type Policy struct {
	Kind PolicyKind
	Arg  string
}

func (p Policy) String() string {
	if p.Arg == "" {
		return string(p.Kind)
	}
	return string(p.Kind) + ":" + p.Arg
}

// ParsePolicy reads "round_robin" (the default, also for ""),
// "least_requests", "cookie[:NAME]" or "hash[:HEADER]".
func ParsePolicy(s string) (Policy, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(s), ":")
	switch PolicyKind(kind) {
	case "", RoundRobin:
		if arg != "" {
			return Policy{}, fmt.Errorf("%q: round_robin takes no argument", s)
		}
		return Policy{Kind: RoundRobin}, nil
	case LeastRequests:
		if arg != "" {
			return Policy{}, fmt.Errorf("%q: least_requests takes no argument", s)
		}
		return Policy{Kind: LeastRequests}, nil
	case Cookie:
		if arg == "" {
			arg = "lb_affinity"
		}
		if !validCookieName(arg) {
			return Policy{}, fmt.Errorf("%q: %q is not a valid cookie name", s, arg)
		}
		return Policy{Kind: Cookie, Arg: arg}, nil
	case Hash:
		if arg != "" && !validHeaderName(arg) {
			return Policy{}, fmt.Errorf("%q: %q is not a valid header name", s, arg)
		}
		if arg != "" {
			arg = http.CanonicalHeaderKey(arg)
		}
		return Policy{Kind: Hash, Arg: arg}, nil
	default:
		return Policy{}, fmt.Errorf("%q is not one of round_robin, least_requests, cookie[:name], hash[:header]", s)
	}
}

// ParseUpstreams reads a comma-separated list of host:port.
func ParseUpstreams(s string) ([]Upstream, error) {
	var out []Upstream
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		host, port, err := net.SplitHostPort(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not host:port", f)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q: port %q is not 1-65535", f, port)
		}
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
			return nil, fmt.Errorf("%q: %q is not a host name or address", f, host)
		}
		out = append(out, Upstream{Host: strings.ToLower(host), Port: uint16(n)})
	}
	if len(out) == 0 {
		return nil, errors.New("no upstream: want host:port[,host:port...]")
	}
	return out, nil
}

// File is the optional LB_CONFIG_FILE, JSON:
//
//	{
//	  "routes": [{"path": "/api/", "pool": "api"}, {"path": "/", "pool": "frontend"}],
//	  "pools": [
//	    {"name": "api", "upstreams": ["api:8000"], "policy": "least_requests", "health_path": "/health"},
//	    {"name": "frontend", "upstreams": ["frontend:3000"]}
//	  ]
//	}
//
// Unknown fields are errors, so a typo never passes silently.
type File struct {
	Routes []Route
	Pools  []Pool
}

type filePool struct {
	Name       string   `json:"name"`
	Upstreams  []string `json:"upstreams"`
	Policy     string   `json:"policy"`
	HealthPath string   `json:"health_path"`
}

// ParseFile decodes and validates a configuration file: every route names
// a pool, every pool has upstreams, a route for "/" exists, names are
// unique.
func ParseFile(b []byte) (File, error) {
	var raw struct {
		Routes []Route    `json:"routes"`
		Pools  []filePool `json:"pools"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return File{}, fmt.Errorf("decode: %w", err)
	}
	if dec.More() {
		return File{}, errors.New("decode: trailing data after the JSON object")
	}
	var f File
	var errs []error
	names := map[string]bool{}
	for i, fp := range raw.Pools {
		if !validToken(fp.Name) {
			errs = append(errs, fmt.Errorf("pools[%d].name: %q must be 1-64 letters, digits, '.', '-' or '_'", i, fp.Name))
		}
		if names[fp.Name] {
			errs = append(errs, fmt.Errorf("pools[%d].name: %q is defined twice", i, fp.Name))
		}
		names[fp.Name] = true
		ups, err := ParseUpstreams(strings.Join(fp.Upstreams, ","))
		if err != nil {
			errs = append(errs, fmt.Errorf("pools[%d].upstreams: %w", i, err))
		}
		pol, err := ParsePolicy(fp.Policy)
		if err != nil {
			errs = append(errs, fmt.Errorf("pools[%d].policy: %w", i, err))
		}
		hp := fp.HealthPath
		if hp == "" {
			hp = "/health"
		}
		if !strings.HasPrefix(hp, "/") {
			errs = append(errs, fmt.Errorf("pools[%d].health_path: %q must start with /", i, hp))
		}
		f.Pools = append(f.Pools, Pool{Name: fp.Name, Upstreams: ups, Policy: pol, HealthPath: hp})
	}
	seen := map[string]bool{}
	for i, r := range raw.Routes {
		if !strings.HasPrefix(r.Path, "/") {
			errs = append(errs, fmt.Errorf("routes[%d].path: %q must start with /", i, r.Path))
		}
		if seen[r.Path] {
			errs = append(errs, fmt.Errorf("routes[%d].path: %q is routed twice", i, r.Path))
		}
		seen[r.Path] = true
		if !names[r.Pool] {
			errs = append(errs, fmt.Errorf("routes[%d].pool: %q is not a defined pool", i, r.Pool))
		}
		f.Routes = append(f.Routes, r)
	}
	if !seen["/"] {
		errs = append(errs, errors.New(`routes: no route for "/": every request needs a pool`))
	}
	if err := errors.Join(errs...); err != nil {
		return File{}, err
	}
	return f, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validCookieName(s string) bool { return validHeaderName(s) }
