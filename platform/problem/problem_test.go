package problem

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWrite(t *testing.T) {
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("Content-Length", "42")
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("ETag", `"1"`)
			w.Header().Set("Retry-After", "1")
			p := New(Unavailable, "no backend")
			p.CorrelationID = "lb:1"
			Write(w, httptest.NewRequest(method, "/api/x?y=1", nil), p)

			gotHeader := map[string]string{}
			for _, k := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "Content-Length", "Content-Encoding", "Etag", "Retry-After"} {
				gotHeader[k] = w.Header().Get(k)
			}
			wantHeader := map[string]string{
				"Content-Type": "application/problem+json", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
				"Content-Length": "", "Content-Encoding": "", "Etag": "", "Retry-After": "1",
			}
			if diff := cmp.Diff(wantHeader, gotHeader); diff != "" || w.Code != 503 {
				t.Errorf("status %d, headers (-want +got):\n%s", w.Code, diff)
			}
			if method == http.MethodHead {
				if w.Body.Len() != 0 {
					t.Errorf("HEAD body = %q, want none", w.Body)
				}
				return
			}
			var got Problem
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			want := Problem{Type: "https://docker-examples.dev/problems/unavailable", Title: "Service unavailable", Status: 503,
				Detail: "no backend", Instance: "/api/x", CorrelationID: "lb:1"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

// The hand-written encoder says what encoding/json would: a problem read
// back is the problem written, whatever its strings hold.
func FuzzAppendJSON(f *testing.F) {
	f.Add("detail", "/path", "id", "name", "must not be empty")
	f.Add("q\"b\\", "\x00\x7f", "bad\xffutf8", "\u2028", "é ✓ <&>")
	f.Fuzz(func(t *testing.T, detail, instance, id, field, message string) {
		p := New(NotFound, detail)
		p.Instance, p.CorrelationID = instance, id
		if field != "" {
			p.Errors = []FieldError{{field, message}, {message, field}}
		}
		b := p.AppendJSON(nil)
		var got Problem
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("AppendJSON = %s: %v", b, err)
		}
		// encoding/json reads invalid UTF-8 as U+FFFD, as AppendJSON writes it.
		want := p
		rt, _ := json.Marshal(p)
		_ = json.Unmarshal(rt, &want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("read back (-want +got):\n%s", diff)
		}
		if b[len(b)-1] != '\n' {
			t.Error("no newline at the end")
		}
	})
}

func BenchmarkAppendJSON(b *testing.B) {
	p := New(Unavailable, "no backend is available")
	p.Instance, p.CorrelationID = "/api/inventory", "0123456789abcdef0123456789abcdef"
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = p.AppendJSON(buf[:0])
	}
}
