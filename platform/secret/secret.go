// Package secret reads configuration values that may be given either
// directly in an environment variable NAME or in a file named by NAME_FILE,
// as Docker secrets are. Setting both is an error, so a stale value can never
// silently win.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Lookup returns the value of the secret NAME. It reads NAME, or the file
// named by NAME_FILE with one trailing newline (LF or CRLF) trimmed. ok is
// false when neither is set. The error names the variable and never contains
// the secret itself.
func Lookup(getenv func(string) string, name string) (value string, ok bool, err error) {
	direct := getenv(name)
	file := getenv(name + "_FILE")
	switch {
	case direct != "" && file != "":
		return "", false, fmt.Errorf("%s and %s_FILE are both set: set only one", name, name)
	case direct != "":
		return direct, true, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", false, fmt.Errorf("%s_FILE: %w", name, err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if v == "" {
			return "", false, fmt.Errorf("%s_FILE: %s is empty", name, file)
		}
		return v, true, nil
	default:
		return "", false, nil
	}
}

// Value is a secret string that never prints: fmt, %v, %+v, %#v and
// slog all render it as "[redacted]". Use Reveal to get the value.
type Value struct{ s string }

// New wraps s.
func New(s string) Value { return Value{s: s} }

// Reveal returns the secret itself.
func (v Value) Reveal() string { return v.s }

// IsZero reports whether the secret is empty.
func (v Value) IsZero() bool { return v.s == "" }

// String implements fmt.Stringer.
func (v Value) String() string {
	if v.s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer, so %#v does not leak either.
func (v Value) GoString() string { return v.String() }

// MarshalText keeps encoders (JSON, slog) from printing the secret.
func (v Value) MarshalText() ([]byte, error) { return []byte(v.String()), nil }
