package inventory

import (
	"net/url"
	"strings"
	"time"
)

// IsGitHubURL reports whether u is a repository URL on github.com, the
// sources GitHub facts are looked up for.
func IsGitHubURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || (p.Host != "github.com" && p.Host != "www.github.com") {
		return false
	}
	parts := strings.Split(strings.Trim(p.Path, "/"), "/")
	return len(parts) >= 2 && parts[0] != "" && parts[1] != ""
}

// Source states of enrichment (ARCHITECTURE.md "Enrichment").
const (
	StatePending = "pending"
	StateOK      = "ok"
	StateError   = "error"
)

// Link states.
const (
	LinkOK      = "ok"
	LinkBroken  = "broken"  // 4xx/5xx or a network error
	LinkRefused = "refused" // a target the stack will not fetch
)

// RegistryFacts is what the image's registry says about its reference.
type RegistryFacts struct {
	State     string     `json:"state"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	Error     string     `json:"error,omitempty"`
	Digest    string     `json:"digest,omitempty"`
	Platforms []string   `json:"platforms,omitempty"`
	Created   *time.Time `json:"created,omitempty"`
	SizeBytes int64      `json:"size_bytes,omitempty"`
	Update    *Update    `json:"update,omitempty"`
}

// Update tells whether a newer image than the item's exists.
type Update struct {
	Available bool `json:"available"`
	// NewestInMajor and Newest are tags of the same shape as the
	// item's, newer than it; empty when none is.
	NewestInMajor string `json:"newest_in_major,omitempty"`
	Newest        string `json:"newest,omitempty"`
	// DigestChanged: the tag points at another digest than at the
	// previous check (a floating tag moved, or the tag was rebuilt).
	DigestChanged  bool   `json:"digest_changed"`
	PreviousDigest string `json:"previous_digest,omitempty"`
}

// GitHubFacts is what GitHub says about the item's source repository.
type GitHubFacts struct {
	State     string     `json:"state"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	Error     string     `json:"error,omitempty"`
	// Repository is owner/name as GitHub knows it now (after a rename).
	Repository    string `json:"repository,omitempty"`
	Stars         int    `json:"stars"`
	Archived      bool   `json:"archived"`
	License       string `json:"license,omitempty"`
	DefaultBranch string `json:"default_branch,omitempty"`
	// PushedAt is the default branch's last push: the committer date of
	// its head commit.
	PushedAt      *time.Time `json:"pushed_at,omitempty"`
	LatestRelease *Release   `json:"latest_release,omitempty"`
}

// Release is a GitHub release.
type Release struct {
	Tag         string     `json:"tag"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
}

// LinkResult is one checked link.
type LinkResult struct {
	URL       string     `json:"url"`
	State     string     `json:"state"`
	Status    int        `json:"status,omitempty"`
	FinalURL  string     `json:"final_url,omitempty"`
	LatencyMS int64      `json:"latency_ms"`
	CheckedAt *time.Time `json:"checked_at,omitempty"`
	Error     string     `json:"error,omitempty"`
}
