package inventory

import (
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// List bounds.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	maxQueryLen  = 100
)

// ListQuery selects a page of items. Items come newest first (by id, which
// is a UUIDv7 and so grows with creation time); the order is stable, so
// following cursors never repeats or skips an item that exists throughout.
type ListQuery struct {
	Limit int        // 1..MaxLimit
	After *uuid.UUID // from the cursor: only items with a smaller id
	Q     string     // case-insensitive substring of the name
	Label string     // items carrying this label
	// ImageRepository keeps items whose normalised repository equals it,
	// e.g. docker.io/library/postgres for image=postgres.
	ImageRepository string

	// Enrichment filters: update=available, archived=true|false,
	// links=broken.
	UpdateAvailable bool
	Archived        *bool
	LinksBroken     bool

	// Cursors signs the cursor of the next page (NextCursor). Queries
	// from ParseListQuery carry the Cursors that checked their cursor;
	// without one there is no next cursor.
	Cursors *Cursors
}

// NextCursor is the cursor of the page after the item with id last, or ""
// when q has no Cursors.
func (q ListQuery) NextCursor(last uuid.UUID) string {
	if q.Cursors == nil {
		return ""
	}
	return q.Cursors.Encode(q, last)
}

// Page is one page of a list. NextCursor is empty on the last page.
type Page struct {
	Items      []Item
	NextCursor string
}

// ParseListQuery reads limit, cursor, q, label, image and the enrichment
// filters from a query string; other parameters are ignored. The cursor
// must be one c signed for the same filters (c nil accepts none). The
// error is a *ValidationError, or ErrBadCursor when only the cursor is
// wrong.
func ParseListQuery(v url.Values, c *Cursors) (ListQuery, error) {
	var verr ValidationError
	q := ListQuery{Limit: DefaultLimit, Cursors: c}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			verr.add("limit", "must be an integer from 1 to %d", MaxLimit)
		} else {
			q.Limit = n
		}
	}
	q.Q = strings.TrimSpace(v.Get("q"))
	checkText(&verr, "q", q.Q, maxQueryLen, false, false)
	q.Label = strings.TrimSpace(v.Get("label"))
	checkText(&verr, "label", q.Label, MaxLabelLen, false, false)
	if s := strings.TrimSpace(v.Get("image")); s != "" {
		if checkText(&verr, "image", s, MaxImageLen, false, false) {
			repo, err := ImageRepository(s)
			if err != nil {
				verr.add("image", "%v", err)
			}
			q.ImageRepository = repo
		}
	}
	switch s := v.Get("update"); s {
	case "":
	case "available":
		q.UpdateAvailable = true
	default:
		verr.add("update", "must be \"available\"")
	}
	switch s := v.Get("archived"); s {
	case "":
	case "true", "false":
		b := s == "true"
		q.Archived = &b
	default:
		verr.add("archived", "must be true or false")
	}
	switch s := v.Get("links"); s {
	case "":
	case "broken":
		q.LinksBroken = true
	default:
		verr.add("links", "must be \"broken\"")
	}
	if err := verr.err(); err != nil {
		return ListQuery{}, err
	}
	// Checked last: the cursor's signature covers the filters.
	if s := v.Get("cursor"); s != "" {
		if c == nil {
			return ListQuery{}, ErrBadCursor
		}
		id, err := c.Decode(q, s)
		if err != nil {
			return ListQuery{}, err
		}
		q.After = &id
	}
	return q, nil
}

// ParseID parses an item id: a UUID in its canonical 36-character form,
// either case. Other spellings uuid.Parse accepts (braces, urn:uuid:, no
// dashes) are rejected so that every item has one URL.
func ParseID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.UUID{}, errors.New("not a UUID")
	}
	return uuid.Parse(s)
}
