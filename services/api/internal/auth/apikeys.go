package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"strings"
)

// APIKeyHeader is the request header that carries an API key.
const APIKeyHeader = "X-API-Key"

// apiKeyKey is APIKeyHeader in net/http's canonical form ("X-Api-Key"):
// read from the header map directly, it costs no canonicalising copy of
// the name per request, which Header.Get makes of a name not in that form.
var apiKeyKey = textproto.CanonicalMIMEHeaderKey(APIKeyHeader)

// APIKey is the request's X-API-Key header value (the first), "" when
// there is none: r.Header.Get(APIKeyHeader) without its copy of the name.
func APIKey(r *http.Request) string {
	if v := r.Header[apiKeyKey]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// MinKeyLen is the shortest key accepted, so a guessable key cannot be
// configured by mistake.
const MinKeyLen = 16

// APIKeys authenticates requests by a static list of keys. It keeps only
// SHA-256 digests and compares every one of them in constant time, so
// neither the keys nor which one matched leak through timing. The zero
// value accepts no key. Safe for concurrent use.
type APIKeys struct {
	digests [][sha256.Size]byte
}

// NewAPIKeys returns an authenticator accepting keys.
func NewAPIKeys(keys ...string) (*APIKeys, error) {
	k := &APIKeys{}
	for i, key := range keys {
		if len(key) < MinKeyLen {
			return nil, fmt.Errorf("key %d is shorter than %d characters", i+1, MinKeyLen)
		}
		if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("key %d contains spaces or control characters", i+1)
		}
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k, nil
}

// LoadAPIKeys reads keys from a file, one per line; blank lines and lines
// starting with # are ignored, surrounding spaces trimmed. Errors name the
// file, never a key.
func LoadAPIKeys(path string) (*APIKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %w", err)
	}
	var keys []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keys = append(keys, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %s: %w", path, err)
	}
	k, err := NewAPIKeys(keys...)
	if err != nil {
		return nil, fmt.Errorf("API_KEYS_FILE: %s: %w", path, err)
	}
	return k, nil
}

// Len is the number of keys accepted.
func (k *APIKeys) Len() int { return len(k.digests) }

// Authenticate implements Authenticator with the X-API-Key header.
func (k *APIKeys) Authenticate(r *http.Request) (Principal, error) {
	key := APIKey(r)
	if key == "" {
		return Principal{}, ErrNoCredentials
	}
	d := sha256.Sum256([]byte(key))
	match := 0
	for i := range k.digests {
		match |= subtle.ConstantTimeCompare(d[:], k.digests[i][:])
	}
	if match != 1 {
		return Principal{}, ErrInvalidCredentials
	}
	// A short digest prefix names the key in logs without revealing it.
	return Principal{Subject: "api-key:" + hex.EncodeToString(d[:4]), Method: "api_key"}, nil
}
