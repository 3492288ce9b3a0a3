package inventory

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

func TestNormalizeImage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres:17-alpine", "docker.io/library/postgres:17-alpine"},
		{"postgres", "docker.io/library/postgres:latest"},
		{"bitnami/redis:7.2", "docker.io/bitnami/redis:7.2"},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app:v1"},
		{"localhost:5000/app", "localhost:5000/app:latest"},
		{"ghcr.io/org/app@sha256:" + strings.Repeat("a", 64), "ghcr.io/org/app@sha256:" + strings.Repeat("a", 64)},
	}
	for _, tt := range tests {
		got, err := NormalizeImage(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeImage(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"Postgres", "postgres:", "a b", "ghcr.io/org/app@sha256:abc", ":tag"} {
		if got, err := NormalizeImage(bad); err == nil {
			t.Errorf("NormalizeImage(%q) = %q, want an error", bad, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	in := Input{
		Name:        "  postgres ",
		Image:       "postgres:17-alpine",
		Description: "primary\ndatabase",
		Labels:      []string{"db", " db ", "critical"},
		SourceURL:   "https://github.com/docker-library/postgres",
		DocsURLs:    []string{"https://hub.docker.com/_/postgres"},
	}
	got, err := in.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	want := Item{
		Name: "postgres", Image: "postgres:17-alpine",
		ImageNormalized: "docker.io/library/postgres:17-alpine",
		Description:     "primary\ndatabase", Labels: []string{"db", "critical"},
		SourceURL: "https://github.com/docker-library/postgres",
		DocsURLs:  []string{"https://hub.docker.com/_/postgres"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Normalize (-want +got):\n%s", d)
	}
	got, err = Input{Name: "x", Image: "x"}.Normalize()
	if err != nil || got.Labels == nil || got.DocsURLs == nil {
		t.Errorf("Normalize of absent lists = %+v, %v; want empty, non-nil lists", got, err)
	}
}

func TestNormalizeRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	many := func(n int, s string) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = s
		}
		return out
	}
	tests := []struct {
		name   string
		in     Input
		fields []string
	}{
		{"empty", Input{}, []string{"name", "image"}},
		{"long name", Input{Name: long(101), Image: "x"}, []string{"name"}},
		{"NUL in name", Input{Name: "a\x00b", Image: "x"}, []string{"name"}},
		{"bad image", Input{Name: "x", Image: "UPPER"}, []string{"image"}},
		{"NUL in description", Input{Name: "x", Image: "x", Description: "a\x00"}, []string{"description"}},
		{"long description", Input{Name: "x", Image: "x", Description: long(2001)}, []string{"description"}},
		{"too many labels", Input{Name: "x", Image: "x", Labels: many(21, "a")}, []string{"labels"}},
		{"empty label", Input{Name: "x", Image: "x", Labels: []string{"a", ""}}, []string{"labels[1]"}},
		{"long label", Input{Name: "x", Image: "x", Labels: []string{long(51)}}, []string{"labels[0]"}},
		{"ftp source", Input{Name: "x", Image: "x", SourceURL: "ftp://example.com/x"}, []string{"source_url"}},
		{"javascript source", Input{Name: "x", Image: "x", SourceURL: "javascript:alert(1)"}, []string{"source_url"}},
		{"relative source", Input{Name: "x", Image: "x", SourceURL: "/x"}, []string{"source_url"}},
		{"credentials", Input{Name: "x", Image: "x", SourceURL: "https://u:p@example.com"}, []string{"source_url"}},
		{"too many docs", Input{Name: "x", Image: "x", DocsURLs: many(11, "https://a.example")}, []string{"docs_urls"}},
		{"bad doc", Input{Name: "x", Image: "x", DocsURLs: []string{"https://a.example", "mailto:a@b"}}, []string{"docs_urls[1]"}},
		{"long url", Input{Name: "x", Image: "x", SourceURL: "https://a.example/" + long(2048)}, []string{"source_url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.in.Normalize()
			verr, ok := err.(*ValidationError)
			if !ok {
				t.Fatalf("Normalize = %v, want a *ValidationError", err)
			}
			var got []string
			for _, f := range verr.Errors {
				got = append(got, f.Field)
			}
			if d := cmp.Diff(tt.fields, got); d != "" {
				t.Errorf("fields with errors (-want +got):\n%s", d)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	got, err := DecodeCursor(EncodeCursor(id))
	if err != nil || got != id {
		t.Fatalf("DecodeCursor(EncodeCursor(%v)) = %v, %v", id, got, err)
	}
	for _, bad := range []string{"", "x", EncodeCursor(id) + "A", "AAAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("%", 23)} {
		if _, err := DecodeCursor(bad); err == nil {
			t.Errorf("DecodeCursor(%q) = nil error, want an error", bad)
		}
	}
}

func TestParseListQuery(t *testing.T) {
	q, err := ParseListQuery(url.Values{"limit": {"5"}, "q": {" pg "}, "label": {"db"}, "image": {"postgres:17"}})
	if err != nil {
		t.Fatal(err)
	}
	want := ListQuery{Limit: 5, Q: "pg", Label: "db", ImageRepository: "docker.io/library/postgres"}
	if d := cmp.Diff(want, q); d != "" {
		t.Errorf("ParseListQuery (-want +got):\n%s", d)
	}
	for _, bad := range []url.Values{
		{"limit": {"0"}}, {"limit": {"101"}}, {"limit": {"ten"}},
		{"cursor": {"nope"}}, {"image": {"UPPER"}}, {"q": {strings.Repeat("x", 101)}},
	} {
		if _, err := ParseListQuery(bad); err == nil {
			t.Errorf("ParseListQuery(%v) = nil error, want a validation error", bad)
		}
	}
}

func TestParseID(t *testing.T) {
	id := uuid.Must(uuid.NewV7())
	for _, ok := range []string{id.String(), strings.ToUpper(id.String())} {
		if got, err := ParseID(ok); err != nil || got != id {
			t.Errorf("ParseID(%q) = %v, %v", ok, got, err)
		}
	}
	for _, bad := range []string{"", "1", "urn:uuid:" + id.String(), "{" + id.String() + "}",
		strings.ReplaceAll(id.String(), "-", ""), strings.Repeat("g", 36)} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) = nil error", bad)
		}
	}
}
