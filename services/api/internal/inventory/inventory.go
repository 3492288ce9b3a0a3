// Package inventory is the domain of the API: an item is one container
// image a stack depends on. It defines what an item is, what a client may
// send, how that input is validated and normalised, list queries with their
// opaque cursors, and the change events other packages publish.
//
// Nothing here does I/O; the store persists items and httpapi speaks HTTP.
package inventory

import (
	"time"

	"github.com/google/uuid"
)

// Item is one image in use, as stored and as the API returns it.
type Item struct {
	ID              uuid.UUID `json:"id"`
	Name            string    `json:"name"`
	Image           string    `json:"image"`            // the reference as the client gave it
	ImageNormalized string    `json:"image_normalized"` // e.g. docker.io/library/postgres:17-alpine
	Description     string    `json:"description"`
	Labels          []string  `json:"labels"`
	SourceURL       string    `json:"source_url"`
	DocsURLs        []string  `json:"docs_urls"`
	// TagInclude and TagExclude are regular expressions (RE2) matched
	// against a whole tag: update detection only considers tags that
	// match TagInclude (when set) and do not match TagExclude (when set).
	// Empty means no pattern.
	TagInclude string    `json:"tag_include"`
	TagExclude string    `json:"tag_exclude"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
	// Enrichment, filled by the background checks (nil or empty until
	// the first check is stored). Clients never send these.
	Registry *RegistryFacts `json:"registry,omitempty"`
	GitHub   *GitHubFacts   `json:"github,omitempty"`
	Links    []LinkResult   `json:"links,omitempty"`

	// Version starts at 1 and grows by one with every write; ETags are
	// derived from it. It stays the last field: the cache reads it from
	// the end of an item's JSON.
	Version int64 `json:"version"`
}

// Input is what a client sends to create or replace an item. Fields that
// are absent take their zero value; Normalize validates them.
type Input struct {
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	Description string   `json:"description"`
	Labels      []string `json:"labels"`
	SourceURL   string   `json:"source_url"`
	DocsURLs    []string `json:"docs_urls"`
	TagInclude  string   `json:"tag_include"`
	TagExclude  string   `json:"tag_exclude"`
}

// Input returns the client-writable part of it, the base a merge patch
// applies to.
func (it Item) Input() Input {
	return Input{
		Name:        it.Name,
		Image:       it.Image,
		Description: it.Description,
		Labels:      it.Labels,
		SourceURL:   it.SourceURL,
		DocsURLs:    it.DocsURLs,
		TagInclude:  it.TagInclude,
		TagExclude:  it.TagExclude,
	}
}

// EventType names a change to the inventory.
type EventType string

// The change events, as they appear on the wire (SSE "event:" field).
const (
	ItemCreated EventType = "item.created"
	ItemUpdated EventType = "item.updated"
	ItemDeleted EventType = "item.deleted"
)

// Event is one successful change. Item is the item after the change; it is
// nil for ItemDeleted.
type Event struct {
	Type EventType
	ID   uuid.UUID
	Item *Item
}
