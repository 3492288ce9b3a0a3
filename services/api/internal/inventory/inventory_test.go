package inventory

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"strconv"
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

func testCursors(t testing.TB, key string) *Cursors {
	t.Helper()
	c, err := NewCursors([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const testKey = "0123456789abcdef0123456789abcdef"

func TestCursorRoundTrip(t *testing.T) {
	c := testCursors(t, testKey)
	id := uuid.Must(uuid.NewV7())
	q := ListQuery{Label: "db"}
	s := c.Encode(q, id)
	got, err := c.Decode(q, s)
	if err != nil || got != id {
		t.Fatalf("Decode(Encode(%v)) = %v, %v", id, got, err)
	}
	// The page size is not part of a cursor's list.
	if got, err := c.Decode(ListQuery{Label: "db", Limit: 7}, s); err != nil || got != id {
		t.Errorf("Decode with another limit = %v, %v, want %v", got, err, id)
	}
}

// A cursor the API did not issue for this list is refused: a made-up
// position, a tampered one, one signed with another key, one from a list
// with other filters, the unsigned version-1 cursors of before.
func TestCursorsRefuseWhatTheyDidNotIssue(t *testing.T) {
	c := testCursors(t, testKey)
	id := uuid.Must(uuid.NewV7())
	q := ListQuery{Q: "pg"}
	good := c.Encode(q, id)
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(b)
	}
	archived := true
	unsignedV1 := base64.RawURLEncoding.EncodeToString(append([]byte{1}, id[:]...))
	for name, tt := range map[string]struct {
		q ListQuery
		s string
	}{
		"empty":               {q, ""},
		"not base64":          {q, strings.Repeat("%", cursorLen)},
		"padding character":   {q, good[:len(good)-1] + "="},
		"one character more":  {q, good + "A"},
		"id changed":          {q, flip(5)},
		"tag changed":         {q, flip(rawCursorLen - 1)},
		"version changed":     {q, flip(0)},
		"unsigned v1":         {q, unsignedV1},
		"another key":         {q, testCursors(t, strings.Repeat("k", 32)).Encode(q, id)},
		"another q":           {ListQuery{Q: "pgx"}, good},
		"q moved to label":    {ListQuery{Label: "pg"}, good},
		"another flag":        {ListQuery{Q: "pg", Archived: &archived}, good},
		"all zero, right len": {q, strings.Repeat("A", cursorLen)},
	} {
		t.Run(name, func(t *testing.T) {
			if got, err := c.Decode(tt.q, tt.s); !errors.Is(err, ErrBadCursor) {
				t.Errorf("Decode(%q) = %v, %v, want ErrBadCursor", tt.s, got, err)
			}
		})
	}
}

func TestCursorKeyLength(t *testing.T) {
	if _, err := NewCursors(make([]byte, MinCursorKeyLen-1)); err == nil {
		t.Errorf("NewCursors accepted a %d-byte key", MinCursorKeyLen-1)
	}
}

func TestParseListQuery(t *testing.T) {
	c := testCursors(t, testKey)
	q, err := ParseListQuery(url.Values{"limit": {"5"}, "q": {" pg "}, "label": {"db"}, "image": {"postgres:17"}}, c)
	if err != nil {
		t.Fatal(err)
	}
	want := ListQuery{Limit: 5, Q: "pg", Label: "db", ImageRepository: "docker.io/library/postgres", Cursors: c}
	if d := cmp.Diff(want, q, cmp.Comparer(func(a, b *Cursors) bool { return a == b })); d != "" {
		t.Errorf("ParseListQuery (-want +got):\n%s", d)
	}
	// Following a cursor: the next query carries its position.
	last := uuid.Must(uuid.NewV7())
	next, err := ParseListQuery(url.Values{"limit": {"5"}, "q": {"pg"}, "label": {"db"}, "image": {"postgres"},
		"cursor": {q.NextCursor(last)}}, c)
	if err != nil || next.After == nil || *next.After != last {
		t.Errorf("ParseListQuery(next cursor) = %+v, %v, want After %v", next, err, last)
	}
	for _, bad := range []url.Values{
		{"limit": {"0"}}, {"limit": {"101"}}, {"limit": {"ten"}},
		{"image": {"UPPER"}}, {"q": {strings.Repeat("x", 101)}},
	} {
		var verr *ValidationError
		if _, err := ParseListQuery(bad, c); !errors.As(err, &verr) {
			t.Errorf("ParseListQuery(%v) = %v, want a validation error", bad, err)
		}
	}
	for _, bad := range []url.Values{
		{"cursor": {"nope"}},
		{"cursor": {q.NextCursor(last)}}, // q's cursor without q's filters
	} {
		if _, err := ParseListQuery(bad, c); !errors.Is(err, ErrBadCursor) {
			t.Errorf("ParseListQuery(%v) = %v, want ErrBadCursor", bad, err)
		}
	}
	if _, err := ParseListQuery(url.Values{"cursor": {c.Encode(ListQuery{}, last)}}, nil); !errors.Is(err, ErrBadCursor) {
		t.Errorf("ParseListQuery without Cursors accepted a cursor: %v", err)
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

// Every filter of ListQuery is part of a cursor's list, so a filter added
// later cannot be changed under a cursor without anyone noticing: setting
// any field but Limit, After and Cursors changes filterIdentity.
func TestEveryFilterIsInTheCursor(t *testing.T) {
	base := ListQuery{}.filterIdentity()
	typ := reflect.TypeFor[ListQuery]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Name {
		case "Limit", "After", "Cursors":
			continue
		}
		var q ListQuery
		v := reflect.ValueOf(&q).Elem().Field(i)
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem())) // the zero value, set
		default:
			t.Fatalf("ListQuery.%s is a %s: teach filterIdentity and this test about it", f.Name, f.Type)
		}
		if bytes.Equal(q.filterIdentity(), base) {
			t.Errorf("ListQuery.%s is not part of filterIdentity: a cursor would survive a change of it", f.Name)
		}
	}
}

func TestCursorFormatNamesTheVersion(t *testing.T) {
	if CursorFormat != strconv.Itoa(cursorVersion) {
		t.Errorf("CursorFormat = %q, cursors are version %d: the cache would serve pages with old cursors", CursorFormat, cursorVersion)
	}
}
