package inventory

import (
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

func FuzzDecodeCursor(f *testing.F) {
	f.Add(EncodeCursor(uuid.Must(uuid.NewV7())))
	f.Add("AQAAAAAAAAAAAAAAAAAAAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := DecodeCursor(s)
		if err != nil {
			return
		}
		if EncodeCursor(id) != s {
			t.Fatalf("DecodeCursor(%q) accepted a non-canonical cursor", s)
		}
	})
}

func FuzzParseListQuery(f *testing.F) {
	f.Add("limit=5&q=pg&label=db&image=postgres:17")
	f.Add("cursor=AQAAAAAAAAAAAAAAAAAAAAA&limit=100")
	f.Add("q=%00&image=%FF")
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseListQuery(v)
		if err != nil {
			if _, ok := err.(*ValidationError); !ok {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > MaxLimit || !utf8.ValidString(q.Q) || !utf8.ValidString(q.Label) {
			t.Fatalf("ParseListQuery(%q) accepted %+v", raw, q)
		}
	})
}
