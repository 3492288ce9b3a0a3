package inventory

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

// Cursors are signed so that the API continues only the lists it started:
// a cursor is the last item's id and an HMAC-SHA256 tag over that id and
// the query's filters, under a key every replica shares. A client cannot
// make up positions (each cursor a new cache entry) nor move a cursor to
// another filter; the page size may change between pages.
//
// The encoding is base64url (unpadded) of a version byte (2), the 16 bytes
// of the id and the first 16 bytes of the tag: 44 characters. Version 1
// cursors (unsigned, before the signature) are refused like any other.
const (
	cursorVersion = 2
	tagLen        = 16
	rawCursorLen  = 1 + 16 + tagLen
	cursorLen     = (rawCursorLen*8 + 5) / 6 // 44

	// MinCursorKeyLen is the shortest key NewCursors accepts.
	MinCursorKeyLen = 32
)

// CursorFormat names the cursors' format; it changes with the format.
// Whatever stores next_cursor values (the cache) keys on it.
const CursorFormat = "2"

// ErrBadCursor means a cursor is not one this API issued for this query:
// malformed, tampered with, signed with another key, or from another
// list. The HTTP layer answers 400.
var ErrBadCursor = errors.New("the cursor is not one this API returned for this query")

// Cursors signs and verifies list cursors. It is safe for concurrent use.
type Cursors struct {
	key []byte
}

// NewCursors returns Cursors with key, which must have at least
// MinCursorKeyLen bytes and be the same on every replica.
func NewCursors(key []byte) (*Cursors, error) {
	if len(key) < MinCursorKeyLen {
		return nil, fmt.Errorf("a cursor key needs at least %d bytes, got %d", MinCursorKeyLen, len(key))
	}
	return &Cursors{key: append([]byte(nil), key...)}, nil
}

// tag is the MAC of the cursor's body (version and id) and the filters.
func (c *Cursors) tag(body []byte, q ListQuery) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("inventory list cursor\x00"))
	m.Write(body)
	m.Write(q.filterIdentity())
	return m.Sum(nil)[:tagLen]
}

// Encode returns the cursor that continues q after the item with id last.
func (c *Cursors) Encode(q ListQuery, last uuid.UUID) string {
	b := make([]byte, 0, rawCursorLen)
	b = append(b, cursorVersion)
	b = append(b, last[:]...)
	b = append(b, c.tag(b, q)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode returns the id a cursor Encode made for a query with q's filters
// continues after; anything else is ErrBadCursor. It reads nothing but s.
func (c *Cursors) Decode(q ListQuery, s string) (uuid.UUID, error) {
	if len(s) != cursorLen {
		return uuid.UUID{}, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != rawCursorLen || b[0] != cursorVersion {
		return uuid.UUID{}, ErrBadCursor
	}
	body, tag := b[:1+16], b[1+16:]
	if !hmac.Equal(tag, c.tag(body, q)) {
		return uuid.UUID{}, ErrBadCursor
	}
	return uuid.UUID(body[1:]), nil
}

// filterIdentity encodes the filters of q (everything but Limit and After)
// without ambiguity: each text field with its length first. A filter added
// to ListQuery belongs here too, so that a cursor stays with its list.
func (q ListQuery) filterIdentity() []byte {
	var b []byte
	for _, s := range []string{q.Q, q.Label, q.ImageRepository} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	flags := byte(0)
	if q.UpdateAvailable {
		flags |= 1
	}
	if q.Archived != nil {
		flags |= 2
		if *q.Archived {
			flags |= 4
		}
	}
	if q.LinksBroken {
		flags |= 8
	}
	return append(b, flags)
}
