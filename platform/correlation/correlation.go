// Package correlation is the stack's one rule for correlation ids: which id
// a request may bring (Valid), how a new one is made (New, AppendNew), and
// the header that carries it (Header). The lb, the frontend and the api all
// take a client's id by this rule, so the id a request arrives with is the
// one on every log line of every service it passes through.
package correlation

import (
	"math/rand/v2"
	"net/http"
)

// Header carries a request's correlation id, in and out.
const Header = "X-Correlation-ID"

// RequestIDHeader is the other name clients and proxies use; From accepts
// it when Header is absent or not valid.
const RequestIDHeader = "X-Request-ID"

// MaxLen is the longest id accepted.
const MaxLen = 128

// Valid reports whether s may be used as a correlation id: 1 to MaxLen
// characters from A-Z a-z 0-9 and - _ . : (so a UUID, a hex id, a W3C trace
// id or "service:id" pass; nothing that could break a log line or a header).
func Valid[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// From returns the request's id: the first valid value of Header or
// RequestIDHeader in h, else a new one.
func From(h http.Header) string {
	for _, k := range [...]string{"X-Correlation-Id", "X-Request-Id"} { // canonical forms
		if v := h[k]; len(v) > 0 && Valid(v[0]) {
			return v[0]
		}
	}
	return New()
}

// New returns a new id: 128 random bits as 32 lowercase hex digits. Not a
// secret (math/rand/v2's per-thread generator; nothing to contend on).
func New() string {
	var b [32]byte
	return string(AppendNew(b[:0]))
}

// AppendNew appends a new id, as New makes, to dst.
func AppendNew(dst []byte) []byte {
	const hex = "0123456789abcdef"
	x, y := rand.Uint64(), rand.Uint64()
	for range 16 {
		dst = append(dst, hex[x&0xf])
		x >>= 4
	}
	for range 16 {
		dst = append(dst, hex[y&0xf])
		y >>= 4
	}
	return dst
}
