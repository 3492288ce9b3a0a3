package env

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsWhenUnset(t *testing.T) {
	l := New(getenv(nil))
	got := []any{
		l.String("S", "def"), l.Int("I", 7, 0, 10), l.Port("P", 80), l.Float("F", 0.5, 0, 1), l.Bool("B", true),
		l.Duration("D", time.Second, 0, time.Hour), l.List("L"), l.Prefixes("C", nil), l.LogLevel("LOG_LEVEL").String(),
		l.Secret("K").IsZero(),
	}
	want := []any{"def", 7, 80, 0.5, true, time.Second, []string(nil), []netip.Prefix(nil), "INFO", true}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err = %v, want nil", err)
	}
}

func TestValues(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := New(getenv(map[string]string{
		"S": "x", "I": "3", "P": "0", "F": "0.25", "B": "false", "D": "1500ms", "L": " a, ,b ",
		"C": "10.0.0.1/8, 192.168.1.1", "LOG_LEVEL": "debug", "K_FILE": file,
	}))
	if got := l.String("S", "def"); got != "x" {
		t.Errorf("String = %q", got)
	}
	if got := l.Int("I", 7, 0, 10); got != 3 {
		t.Errorf("Int = %d", got)
	}
	if got := l.Port("P", 80); got != 0 {
		t.Errorf("Port = %d", got)
	}
	if got := l.Float("F", 0.5, 0, 1); got != 0.25 {
		t.Errorf("Float = %v", got)
	}
	if got := l.Bool("B", true); got {
		t.Errorf("Bool = %v", got)
	}
	if got := l.Duration("D", time.Second, 0, time.Hour); got != 1500*time.Millisecond {
		t.Errorf("Duration = %v", got)
	}
	if diff := cmp.Diff([]string{"a", "b"}, l.List("L")); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if got := l.Prefixes("C", nil); len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.168.1.1/32" {
		t.Errorf("Prefixes = %v", got)
	}
	if got := l.LogLevel("LOG_LEVEL").String(); got != "DEBUG" {
		t.Errorf("LogLevel = %s", got)
	}
	if got := l.Secret("K").Reveal(); got != "s3cret" {
		t.Errorf("Secret = %q, want the file's content without its newline", got)
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}

// One start-up reports every bad variable, each by name, and no secret.
func TestEveryBadVariableAtOnce(t *testing.T) {
	l := New(getenv(map[string]string{
		"PORT": "eighty", "WORKERS": "11", "RATIO": "x", "ON": "yes please", "WAIT": "5 minutes",
		"NETS": "10.0.0.0/33", "LOG_LEVEL": "loud", "TOKEN": "hunter2", "TOKEN_FILE": "/run/secrets/token",
		"MODE": "sideways",
	}))
	l.Port("PORT", 80)
	l.Int("WORKERS", 1, 1, 10)
	l.Float("RATIO", 0, 0, 1)
	l.Bool("ON", false)
	l.Duration("WAIT", 0, 0, time.Hour)
	l.Prefixes("NETS", nil)
	l.LogLevel("LOG_LEVEL")
	l.Secret("TOKEN")
	Parse(l, "MODE", "up", func(s string) (string, error) {
		if s != "up" && s != "down" {
			return "", errorString("want up or down")
		}
		return s, nil
	})
	err := l.Err()
	if err == nil {
		t.Fatal("Err = nil, want every bad variable")
	}
	lines := strings.Split(err.Error(), "\n")
	var names []string
	for _, line := range lines {
		name, _, _ := strings.Cut(line, ":")
		names = append(names, strings.Fields(name)[0])
	}
	want := []string{"PORT", "WORKERS", "RATIO", "ON", "WAIT", "NETS", "LOG_LEVEL", "TOKEN", "MODE"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("variables named (-want +got):\n%s\n%s", diff, err)
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("the error shows the secret: %s", err)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestParsePrefixes(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"10.0.0.0/8, 172.18.0.5", []string{"10.0.0.0/8", "172.18.0.5/32"}, ""},
		{"10.1.2.3/8", []string{"10.0.0.0/8"}, ""},
		{"fd00::/8,::1", []string{"fd00::/8", "::1/128"}, ""},
		// Mapped forms mean their IPv4 prefix: addresses are compared unmapped.
		{"::ffff:10.0.0.0/104", []string{"10.0.0.0/8"}, ""},
		{"::ffff:10.0.0.1", []string{"10.0.0.1/32"}, ""},
		{"fe80::1%eth0", nil, "fe80::1%eth0"},
		{"10.0.0.0/33", nil, "10.0.0.0/33"},
		{"10.0.0.0/8, nope", nil, "nope"},
		{"::ffff:0:0/80", nil, "::ffff:0:0/80"},
	} {
		got, err := ParsePrefixes(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePrefixes(%q) = %v, %v; want an error naming %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		var gs []string
		for _, p := range got {
			gs = append(gs, p.String())
		}
		if err != nil || !cmp.Equal(tc.want, gs) {
			t.Errorf("ParsePrefixes(%q) = %v, %v; want %v", tc.in, gs, err, tc.want)
		}
	}
}

// FuzzParsePrefixes: whatever the list, no panic, and every prefix it
// returns is valid, masked, unzoned and unmapped, and parses back to itself.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8, 127.0.0.1", "::ffff:1.2.3.4/120", "fe80::1%lo", ",,", "1.2.3.4/0", "::/0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePrefixes(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("ParsePrefixes(%q) gave %v", s, p)
			}
			if back, err := ParsePrefixes(p.String()); err != nil || len(back) != 1 || back[0] != p {
				t.Fatalf("%v does not parse back: %v, %v", p, back, err)
			}
		}
	})
}
