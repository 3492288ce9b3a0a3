package inventory

import (
	"errors"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

func FuzzParseID(f *testing.F) {
	f.Add("0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")
	f.Add("urn:uuid:0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		// Every accepted id has exactly one spelling up to case.
		if back, err := ParseID(id.String()); err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, but its String does not round-trip", s, id)
		}
	})
}

// FuzzDecodeCursor: whatever a client sends, Decode accepts only what
// Encode made for the same filters under the same key, and it never
// panics. The seeds are a real cursor, its neighbours (one bit, one byte
// off) and the unsigned version-1 form.
func FuzzDecodeCursor(f *testing.F) {
	c, err := NewCursors([]byte("fuzz-cursor-key-0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	id := uuid.MustParse("0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")
	good := c.Encode(ListQuery{Q: "pg"}, id)
	f.Add(good, "pg")
	f.Add(good, "")
	f.Add(good[:len(good)-1]+"A", "pg")
	f.Add(good+"A", "pg")
	f.Add("AQGToOR8Pn0qmksfLj1MW2o", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, filter string) {
		q := ListQuery{Q: filter}
		got, err := c.Decode(q, s)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("Decode(%q) = %v, want ErrBadCursor", s, err)
			}
			return
		}
		// Accepted: it is exactly the cursor Encode makes for it.
		if c.Encode(q, got) != s {
			t.Fatalf("Decode(%q, q=%q) accepted a cursor Encode does not make", s, filter)
		}
		if s == good && filter != "pg" {
			t.Fatalf("a cursor of q=pg was accepted for q=%q", filter)
		}
	})
}

func FuzzParseListQuery(f *testing.F) {
	f.Add("limit=5&q=pg&label=db&image=postgres:17")
	f.Add("cursor=AQAAAAAAAAAAAAAAAAAAAAA&limit=100")
	f.Add("cursor=" + fuzzCursors.Encode(ListQuery{Label: "db"}, uuid.MustParse("0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")) + "&label=db")
	f.Add("q=%00&image=%FF")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseListQuery(v, fuzzCursors)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok && !errors.Is(err, ErrBadCursor) {
				t.Fatalf("error %v is neither a *ValidationError nor ErrBadCursor", err)
			}
			return
		}
		if (q.After != nil) != (v.Get("cursor") != "") {
			t.Fatalf("ParseListQuery(%q): After %v does not follow the cursor", raw, q.After)
		}
		if q.Limit < 1 || q.Limit > MaxLimit || !utf8.ValidString(q.Q) || !utf8.ValidString(q.Label) {
			t.Fatalf("ParseListQuery(%q) accepted %+v", raw, q)
		}
	})
}

var fuzzCursors = func() *Cursors {
	c, err := NewCursors([]byte("fuzz-cursor-key-0123456789abcdef"))
	if err != nil {
		panic(err)
	}
	return c
}()
