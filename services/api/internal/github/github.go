// Package github asks the GitHub REST API about a source repository:
// stars, archived, license, the default branch's last push, latest
// release. Requests are
// conditional on the stored ETags (a 304 costs no quota), a renamed
// repository's 301 is followed, and a rate limit (403/429 with
// X-RateLimit-Remaining: 0, X-RateLimit-Reset or Retry-After) pauses the
// client instead of failing items: calls return an *RateLimitedError
// until the pause ends, without sending anything.
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// DefaultAPIURL is GITHUB_API_URL's default.
const DefaultAPIURL = "https://api.github.com"

// RateLimitedError means GitHub asked us to wait until Until.
type RateLimitedError struct{ Until time.Time }

func (e *RateLimitedError) Error() string {
	return "GitHub rate limit reached; paused until " + e.Until.UTC().Format(time.RFC3339)
}

// ErrNotFound: the repository does not exist or is private.
var ErrNotFound = errors.New("repository not found on GitHub (deleted, private, or a typo)")

// Client is a GitHub API client. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	now   func() time.Time

	mu          sync.Mutex
	pausedUntil time.Time
	requests    atomic.Int64
	remaining   atomic.Int64 // X-RateLimit-Remaining of the last answer; -1 before one
}

// New returns a client for the API at baseURL with an optional token.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GITHUB_API_URL %q is not an http(s) URL", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	c := &Client{base: u, token: token, http: hc, now: time.Now}
	c.remaining.Store(-1)
	return c, nil
}

// QuotaRemaining is the number of requests GitHub said are left in the
// current rate-limit window (X-RateLimit-Remaining of the last answer);
// ok is false before the first answer.
func (c *Client) QuotaRemaining() (n int64, ok bool) {
	n = c.remaining.Load()
	return n, n >= 0
}

// Requests is the number of requests sent so far.
func (c *Client) Requests() int64 { return c.requests.Load() }

// State is what a previous check stored: the facts and the ETags that
// make the next check conditional.
type State struct {
	Facts       inventory.GitHubFacts `json:"facts"`
	RepoETag    string                `json:"repo_etag,omitempty"`
	ReleaseETag string                `json:"release_etag,omitempty"`
	// BranchETag is the ETag of the answer about Facts.DefaultBranch.
	BranchETag string `json:"branch_etag,omitempty"`
}

// ParseRepo returns owner/name for a github.com URL, ok false otherwise.
func ParseRepo(sourceURL string) (string, bool) {
	u, err := url.Parse(sourceURL)
	if err != nil || (u.Host != "github.com" && u.Host != "www.github.com") {
		return "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", false
	}
	return parts[0] + "/" + strings.TrimSuffix(parts[1], ".git"), true
}

// Check fetches repo (owner/name) with the ETags in prev (nil on the first
// check) and returns the new state: three conditional requests, for the
// repository (GET /repos/{owner}/{repo}), its default branch (GET
// /repos/{owner}/{repo}/branches/{branch}) and its latest release (GET
// /repos/{owner}/{repo}/releases/latest); when nothing changed all three
// are 304s and cost no quota. Errors are *RateLimitedError, ErrNotFound,
// or a transport/HTTP error.
func (c *Client) Check(ctx context.Context, repo string, prev *State) (State, error) {
	var st State
	if prev != nil {
		st = *prev
	}
	var r struct {
		FullName        string `json:"full_name"`
		StargazersCount int    `json:"stargazers_count"`
		Archived        bool   `json:"archived"`
		DefaultBranch   string `json:"default_branch"`
		License         *struct {
			SPDXID string `json:"spdx_id"`
			Name   string `json:"name"`
		} `json:"license"`
	}
	repoETag := st.RepoETag
	if st.Facts.DefaultBranch == "" {
		// A state stored before the default branch was kept: a 304
		// would not say which branch to ask about.
		repoETag = ""
	}
	status, etag, err := c.get(ctx, "/repos/"+repo, repoETag, &r)
	if err != nil {
		return State{}, err
	}
	if status == http.StatusOK {
		st.RepoETag = etag
		st.Facts.Repository = r.FullName
		st.Facts.Stars, st.Facts.Archived = r.StargazersCount, r.Archived
		if r.DefaultBranch != st.Facts.DefaultBranch {
			st.Facts.DefaultBranch, st.BranchETag, st.Facts.PushedAt = r.DefaultBranch, "", nil
		}
		st.Facts.License = ""
		if r.License != nil {
			st.Facts.License = r.License.SPDXID
			if st.Facts.License == "" || st.Facts.License == "NOASSERTION" {
				st.Facts.License = r.License.Name
			}
		}
	}
	name := st.Facts.Repository
	if name == "" {
		name = repo
	}
	if err := c.checkBranch(ctx, name, &st); err != nil {
		return State{}, err
	}
	var rel struct {
		TagName     string     `json:"tag_name"`
		PublishedAt *time.Time `json:"published_at"`
	}
	status, etag, err = c.get(ctx, "/repos/"+name+"/releases/latest", st.ReleaseETag, &rel)
	switch {
	case errors.Is(err, ErrNotFound): // no release yet
		st.ReleaseETag, st.Facts.LatestRelease = "", nil
	case err != nil:
		return State{}, err
	case status == http.StatusOK:
		st.ReleaseETag = etag
		st.Facts.LatestRelease = &inventory.Release{Tag: rel.TagName, PublishedAt: rel.PublishedAt}
	}
	now := c.now().UTC()
	st.Facts.State, st.Facts.CheckedAt, st.Facts.Error = inventory.StateOK, &now, ""
	return st, nil
}

// checkBranch sets st's PushedAt to the date of the default branch's
// head commit, as its committer recorded it: the branch's last push. The
// repository's own pushed_at is not that: it moves with a push to any
// branch or tag, a bot's feature branch included. A repository without
// commits has no branch to ask about (404): no date, not an error.
func (c *Client) checkBranch(ctx context.Context, repo string, st *State) error {
	if st.Facts.DefaultBranch == "" {
		st.BranchETag, st.Facts.PushedAt = "", nil
		return nil
	}
	var b struct {
		Commit struct {
			Commit struct {
				Committer struct {
					Date *time.Time `json:"date"`
				} `json:"committer"`
			} `json:"commit"`
		} `json:"commit"`
	}
	status, etag, err := c.get(ctx, "/repos/"+repo+"/branches/"+escapeRef(st.Facts.DefaultBranch), st.BranchETag, &b)
	switch {
	case errors.Is(err, ErrNotFound):
		st.BranchETag, st.Facts.PushedAt = "", nil
	case err != nil:
		return err
	case status == http.StatusOK:
		st.BranchETag, st.Facts.PushedAt = etag, b.Commit.Commit.Committer.Date
	}
	return nil
}

// escapeRef escapes a branch name for a URL path, keeping the slashes of
// names such as release/1.x, which the API takes as they are.
func escapeRef(branch string) string {
	parts := strings.Split(branch, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// get sends one conditional GET and decodes a 200 into v. It returns the
// status (200 or 304) and the response's ETag.
func (c *Client) get(ctx context.Context, path, etag string, v any) (int, string, error) {
	c.mu.Lock()
	until := c.pausedUntil
	c.mu.Unlock()
	if c.now().Before(until) {
		return 0, "", &RateLimitedError{Until: until}
	}
	u := c.base.JoinPath(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("User-Agent", "docker-examples-inventory")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GitHub: %w", err)
	}
	defer resp.Body.Close()
	if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Remaining"), 10, 64); err == nil && n >= 0 {
		c.remaining.Store(n)
	}
	if until, limited := c.rateLimit(resp); limited {
		c.mu.Lock()
		if until.After(c.pausedUntil) {
			c.pausedUntil = until
		}
		c.mu.Unlock()
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusTooManyRequests {
			return 0, "", &RateLimitedError{Until: until}
		}
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
			return 0, "", fmt.Errorf("GitHub: unexpected answer: %w", err)
		}
		return http.StatusOK, resp.Header.Get("ETag"), nil
	case http.StatusNotModified:
		return http.StatusNotModified, etag, nil
	case http.StatusNotFound, http.StatusGone:
		return 0, "", ErrNotFound
	case http.StatusUnauthorized:
		return 0, "", errors.New("GitHub refused the token (HTTP 401): check GITHUB_TOKEN")
	default:
		var msg struct {
			Message string `json:"message"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&msg)
		return 0, "", fmt.Errorf("GitHub answered HTTP %d: %s", resp.StatusCode, msg.Message)
	}
}

// rateLimit reads GitHub's documented rate-limit signals: Retry-After
// (secondary limits, 403 or 429), and X-RateLimit-Remaining: 0 with
// X-RateLimit-Reset (primary limit; on a 200 it means the next call
// would fail, so we pause before it).
func (c *Client) rateLimit(resp *http.Response) (time.Time, bool) {
	now := c.now()
	if s := resp.Header.Get("Retry-After"); s != "" && (resp.StatusCode == 403 || resp.StatusCode == 429) {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return now.Add(time.Duration(n) * time.Second), true
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return time.Unix(n, 0), true
		}
		return now.Add(time.Minute), true
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return now.Add(time.Minute), true
	}
	return time.Time{}, false
}
