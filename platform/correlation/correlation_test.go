package correlation

import (
	"net/http"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"0193e4b2-7c1a-7000-8000-000000000000", true},
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"lb:0a1b2c", true}, // the lb has always passed these on
		{"trace_id.span-1", true},
		{strings.Repeat("a", MaxLen), true},
		{"", false},
		{strings.Repeat("a", MaxLen+1), false},
		{"a b", false},
		{"a\nb", false},
		{`a"b`, false},
		{"a/b", false},
		{"<script>", false},
		{"é", false},
	} {
		if got := Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
		if got := Valid([]byte(tc.id)); got != tc.want {
			t.Errorf("Valid([]byte(%q)) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestFrom(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    http.Header
		want string // "" means: a new id
	}{
		{"correlation id", http.Header{"X-Correlation-Id": {"abc:1"}}, "abc:1"},
		{"request id", http.Header{"X-Request-Id": {"req-1"}}, "req-1"},
		{"correlation id first", http.Header{"X-Correlation-Id": {"c"}, "X-Request-Id": {"r"}}, "c"},
		{"invalid correlation id, valid request id", http.Header{"X-Correlation-Id": {"a b"}, "X-Request-Id": {"r"}}, "r"},
		{"none", http.Header{}, ""},
		{"invalid", http.Header{"X-Correlation-Id": {"a\r\nb"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := From(tc.h)
			if tc.want != "" && got != tc.want {
				t.Errorf("From = %q, want %q", got, tc.want)
			}
			if tc.want == "" && (len(got) != 32 || !Valid(got)) {
				t.Errorf("From = %q, want a new 32-digit id", got)
			}
		})
	}
}

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := New()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("New() = %q, want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
	if got := string(AppendNew([]byte("x-"))); !strings.HasPrefix(got, "x-") || len(got) != 34 {
		t.Errorf("AppendNew(x-) = %q", got)
	}
}

func BenchmarkNew(b *testing.B) {
	var buf [32]byte
	for b.Loop() {
		_ = AppendNew(buf[:0])
	}
}
