package auth

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const key = "0123456789abcdef0123"

func TestAPIKeysFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	content := "# automation\n" + key + "\n\n  other-key-0123456789  \n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadAPIKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		err    error
	}{
		{key, nil},
		{"other-key-0123456789", nil},
		{"", ErrNoCredentials},
		{key + "x", ErrInvalidCredentials},
		{"# automation", ErrInvalidCredentials},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/", nil)
		if tt.header != "" {
			r.Header.Set(APIKeyHeader, tt.header)
		}
		p, err := k.Authenticate(r)
		if !errors.Is(err, tt.err) {
			t.Errorf("Authenticate(%q) = %v, want %v", tt.header, err, tt.err)
		}
		if err == nil && (p.Method != "api_key" || strings.Contains(p.Subject, tt.header)) {
			t.Errorf("principal %+v: want method api_key and no key in the subject", p)
		}
	}
}

func TestWeakKeysAreRefusedWithoutPrintingThem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte("short-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadAPIKeys(path)
	if err == nil || !strings.Contains(err.Error(), "API_KEYS_FILE") || strings.Contains(err.Error(), "short-secret") {
		t.Fatalf("LoadAPIKeys with a short key = %v, want an error naming API_KEYS_FILE and not the key", err)
	}
}

func TestChainAsksUntilSomeoneRecognisesTheRequest(t *testing.T) {
	k, _ := NewAPIKeys(key)
	r := httptest.NewRequest("POST", "/", nil)
	if _, err := (Chain{}).Authenticate(r); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("empty chain = %v, want ErrNoCredentials", err)
	}
	r.Header.Set(APIKeyHeader, key)
	if p, err := (Chain{Chain{}, k}).Authenticate(r); err != nil || p.Method != "api_key" {
		t.Errorf("chain = %+v, %v; want the key's principal", p, err)
	}
	r.Header.Set(APIKeyHeader, "wrong-wrong-wrong-wrong")
	if _, err := (Chain{k, Chain{}}).Authenticate(r); !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("chain with a wrong key = %v, want ErrInvalidCredentials", err)
	}
}
