package secret_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker-examples/stack/platform/secret"
)

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	withNL := write("nl", "s3cret\n")
	withCRLF := write("crlf", "s3cret\r\n")
	inner := write("inner", "two\nlines\n")
	empty := write("empty", "\n")

	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantOK  bool
		wantErr string
	}{
		{name: "unset", env: nil},
		{name: "direct", env: map[string]string{"DB_PASSWORD": "s3cret"}, want: "s3cret", wantOK: true},
		{name: "file trims newline", env: map[string]string{"DB_PASSWORD_FILE": withNL}, want: "s3cret", wantOK: true},
		{name: "file trims crlf", env: map[string]string{"DB_PASSWORD_FILE": withCRLF}, want: "s3cret", wantOK: true},
		{name: "file keeps inner newline", env: map[string]string{"DB_PASSWORD_FILE": inner}, want: "two\nlines", wantOK: true},
		{name: "both set", env: map[string]string{"DB_PASSWORD": "a", "DB_PASSWORD_FILE": withNL}, wantErr: "DB_PASSWORD and DB_PASSWORD_FILE are both set"},
		{name: "missing file", env: map[string]string{"DB_PASSWORD_FILE": filepath.Join(dir, "nope")}, wantErr: "DB_PASSWORD_FILE"},
		{name: "empty file", env: map[string]string{"DB_PASSWORD_FILE": empty}, wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := secret.Lookup(func(k string) string { return tt.env[k] }, "DB_PASSWORD")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error leaks the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("got (%q, %v), want (%q, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestValueNeverPrints(t *testing.T) {
	v := secret.New("hunter2")
	type cfg struct{ Password secret.Value }
	b, err := json.Marshal(cfg{v})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s", v, cfg{v}, cfg{v}, v), string(b)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
	if v.Reveal() != "hunter2" {
		t.Errorf("Reveal() = %q", v.Reveal())
	}
}
