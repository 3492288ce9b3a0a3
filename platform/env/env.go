// Package env is the stack's one loader of configuration from the
// environment. A Loader reads variables through an injected getenv, parses
// each with its default and bounds, and collects every bad value, so one
// start-up reports every mistake at once, each error naming its variable.
// Secrets are read as NAME or NAME_FILE (never both; see platform/secret).
//
//	l := env.New(getenv)
//	c := Config{Port: l.Port("PORT", 8000), Drain: l.Duration("SHUTDOWN_DRAIN", 5*time.Second, 0, 5*time.Minute)}
//	if err := l.Err(); err != nil {
//		return Config{}, err
//	}
package env

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/docker-examples/stack/platform/logging"
	"github.com/docker-examples/stack/platform/secret"
)

// Loader reads and checks variables. Not safe for concurrent use.
type Loader struct {
	getenv func(string) string
	errs   []error
}

// New returns a Loader reading from getenv (os.Getenv, or a test's map).
func New(getenv func(string) string) *Loader { return &Loader{getenv: getenv} }

// Get returns the raw value of name ("" when unset).
func (l *Loader) Get(name string) string { return l.getenv(name) }

// Fail records a problem with name's value: "NAME: message".
func (l *Loader) Fail(name, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Err returns every problem recorded, joined (one per line), or nil.
func (l *Loader) Err() error { return errors.Join(l.errs...) }

// String returns name's value, or def when unset.
func (l *Loader) String(name, def string) string {
	if v := l.getenv(name); v != "" {
		return v
	}
	return def
}

// Int returns name as a whole number in [lo, hi], or def when unset.
func (l *Loader) Int(name string, def, lo, hi int) int {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.Fail(name, "%q is not a whole number in %d-%d", v, lo, hi)
		return def
	}
	return n
}

// Port returns name as a TCP port (0-65535; 0 picks a free one, or
// disables a listener where the service says so), or def when unset.
func (l *Loader) Port(name string, def int) int { return l.Int(name, def, 0, 65535) }

// Float returns name as a number in [lo, hi], or def when unset.
func (l *Loader) Float(name string, def, lo, hi float64) float64 {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < lo || f > hi {
		l.Fail(name, "%q is not a number in %g-%g", v, lo, hi)
		return def
	}
	return f
}

// Bool returns name as true or false (1, t, TRUE, 0, f, False, …), or def
// when unset.
func (l *Loader) Bool(name string, def bool) bool {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.Fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// Duration returns name as a Go duration in [lo, hi] ("1500ms", "2s",
// "1h30m"), or def when unset.
func (l *Loader) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		l.Fail(name, "%q is not a duration between %s and %s (e.g. 1500ms, 2s, 5m)", v, lo, hi)
		return def
	}
	return d
}

// List returns name's comma-separated values, trimmed, empty ones dropped.
func (l *Loader) List(name string) []string {
	var out []string
	for f := range strings.SplitSeq(l.getenv(name), ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Prefixes returns name as a list of CIDR prefixes (ParsePrefixes), or def
// when unset.
func (l *Loader) Prefixes(name string, def []netip.Prefix) []netip.Prefix {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	ps, err := ParsePrefixes(v)
	if err != nil {
		l.Fail(name, "%v", err)
		return def
	}
	return ps
}

// LogLevel returns name (LOG_LEVEL) as debug, info, warn or error; default
// info.
func (l *Loader) LogLevel(name string) slog.Level {
	v := l.getenv(name)
	lvl, err := logging.ParseLevel(v)
	if err != nil {
		l.Fail(name, "%q is not one of debug, info, warn, error", v)
	}
	return lvl
}

// Secret returns the secret name, given as NAME or in the file NAME_FILE
// (secret.Lookup); the zero Value when neither is set.
func (l *Loader) Secret(name string) secret.Value {
	v, _, err := secret.Lookup(l.getenv, name)
	if err != nil {
		l.errs = append(l.errs, err) // names the variable, never the value
	}
	return secret.New(v)
}

// Parse returns name parsed by parse, or def when unset; parse's error
// (which should say what a good value looks like) is recorded for name.
func Parse[T any](l *Loader, name string, def T, parse func(string) (T, error)) T {
	v := l.getenv(name)
	if v == "" {
		return def
	}
	t, err := parse(v)
	if err != nil {
		l.Fail(name, "%v", err)
		return def
	}
	return t
}

// ParsePrefixes reads a comma-separated list of CIDR prefixes or single
// addresses ("10.0.0.0/8, 172.16.0.0/12, 127.0.0.1"), as TRUSTED_PROXIES
// and UPSTREAM_CIDRS hold them. It is the stack's one CIDR parser. Host
// bits are masked off; a bare address is a single-host prefix; IPv4-mapped
// IPv6 forms ("::ffff:10.0.0.0/104") are read as the IPv4 prefix they
// mean, since addresses are compared unmapped. Zoned addresses are
// refused. The error names the bad entry.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("%q is not a CIDR prefix (e.g. 10.0.0.0/8) or an IP address", f)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR prefix (e.g. 10.0.0.0/8) or an IP address", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if a := p.Addr(); a.Is4In6() {
			if p.Bits() < 96 {
				return nil, fmt.Errorf("%q mixes IPv4-mapped and other IPv6 addresses: write the IPv4 prefix", f)
			}
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
