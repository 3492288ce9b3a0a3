package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// fakeGitHub replays the documented shapes of GET /repos/{owner}/{repo},
// GET /repos/{owner}/{repo}/branches/{branch} and GET
// /repos/{owner}/{repo}/releases/latest (docs.github.com/rest/repos/repos,
// /rest/branches/branches, /rest/releases/releases), errors included: 304
// on a matching If-None-Match, 301 for a renamed repository, 404 (no such
// repository, no release, an empty repository's branch), and the primary
// and secondary rate limits.
type fakeGitHub struct {
	limited   atomic.Bool // answer 403 with X-RateLimit-Remaining: 0
	secondary atomic.Bool // answer 429 with Retry-After
	// limitBranches answers 403 (primary limit) to branch requests only:
	// the limit is reached in the middle of a check.
	limitBranches atomic.Bool
	hits          atomic.Int64
	notModified   atomic.Int64
	reset         time.Time
}

// The repository was pushed to (a bot's feature branch) after its default
// branch was: pushed_at is not the default branch's last push.
const repoBody = `{"id":1296269,"node_id":"MDEwOlJlcG9zaXRvcnkxMjk2MjY5","name":"%[1]s","full_name":"docker-library/%[1]s",
"private":false,"html_url":"https://github.com/docker-library/%[1]s","fork":false,"stargazers_count":2345,
"watchers_count":2345,"default_branch":"%[2]s","archived":%[3]t,"disabled":false,"pushed_at":"2026-11-20T10:00:00Z",
"license":{"key":"mit","name":"MIT License","spdx_id":"MIT","url":"https://api.github.com/licenses/mit","node_id":"MDc6TGljZW5zZW1pdA=="}}`

// branchBody is a branch as GET .../branches/{branch} answers; the
// committer date carries the committer's offset, as GitHub sends it.
const branchBody = `{"name":"%[1]s","commit":{"sha":"7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
"node_id":"MDY6Q29tbWl0N2ZkMWE2MGIwMWY5MWIzMTRmNTk5NTVhNGU0ZDRlODBkOGVkZjExZA==",
"commit":{"author":{"name":"Jane Doe","email":"jane@example.com","date":"2026-11-17T16:00:00+01:00"},
"committer":{"name":"GitHub","email":"noreply@github.com","date":"2026-11-18T09:30:00+01:00"},
"message":"Merge pull request #6 from jane/patch-1","tree":{"sha":"b4eecafa9be2f2006ce1b709d6857b07069b4608",
"url":"https://api.github.com/repos/docker-library/postgres/git/trees/b4eecafa9be2f2006ce1b709d6857b07069b4608"},
"url":"https://api.github.com/repos/docker-library/postgres/git/commits/7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
"comment_count":0,"verification":{"verified":false,"reason":"unsigned","signature":null,"payload":null}},
"url":"https://api.github.com/repos/docker-library/postgres/commits/7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
"parents":[{"sha":"553c2077f0edc3d5dc5d17262f6aa498e69d6f8e"}]},
"_links":{"self":"https://api.github.com/repos/docker-library/postgres/branches/%[1]s","html":"https://github.com/docker-library/postgres/tree/%[1]s"},
"protected":true,"protection_url":"https://api.github.com/repos/docker-library/postgres/branches/%[1]s/protection"}`

// branchPushed is branchBody's committer date.
var branchPushed = time.Date(2026, 11, 18, 8, 30, 0, 0, time.UTC)

const releaseBody = `{"url":"https://api.github.com/repos/docker-library/postgres/releases/1","tag_name":"v1.2.3",
"name":"v1.2.3","draft":false,"prerelease":false,"created_at":"2026-11-01T00:00:00Z","published_at":"2026-11-02T00:00:00Z"}`

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "60")
	if f.limited.Load() || f.limitBranches.Load() && strings.Contains(r.URL.Path, "/branches/") {
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(f.reset.Unix(), 10))
		w.Header().Set("X-RateLimit-Used", "60")
		w.Header().Set("X-RateLimit-Resource", "core")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"message":"API rate limit exceeded for 203.0.113.7. (But here's the good news: Authenticated requests get a higher rate limit. Check out the documentation for more details.)","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}`)
		return
	}
	if f.secondary.Load() {
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}`)
		return
	}
	w.Header().Set("X-RateLimit-Remaining", "59")
	// conditional answers 304 when the client holds etag, else sets it.
	conditional := func(etag string) bool {
		if r.Header.Get("If-None-Match") == etag {
			f.notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return true
		}
		w.Header().Set("ETag", etag)
		return false
	}
	repos := map[string]struct {
		branch   string
		archived bool
	}{"postgres": {"master", false}, "archived": {"release/1.x", true}, "empty": {"main", false}}
	switch p := r.URL.Path; p {
	case "/repos/old-owner/postgres":
		w.Header().Set("Location", "/repositories/1296269")
		w.WriteHeader(http.StatusMovedPermanently)
		fmt.Fprint(w, `{"message":"Moved Permanently","url":"https://api.github.com/repositories/1296269","documentation_url":"https://docs.github.com/v3/#http-redirects"}`)
	case "/repos/docker-library/postgres", "/repositories/1296269", "/repos/docker-library/archived", "/repos/docker-library/empty":
		name := path.Base(p)
		if p == "/repositories/1296269" {
			name = "postgres"
		}
		if conditional(`W/"repo-` + name + `"`) {
			return
		}
		fmt.Fprintf(w, repoBody, name, repos[name].branch, repos[name].archived)
	case "/repos/docker-library/postgres/branches/master", "/repos/docker-library/archived/branches/release/1.x":
		if conditional(`W/"branch-` + path.Base(p) + `"`) {
			return
		}
		fmt.Fprintf(w, branchBody, strings.SplitN(p, "/branches/", 2)[1])
	case "/repos/docker-library/empty/branches/main":
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Branch not found","documentation_url":"https://docs.github.com/rest/branches/branches#get-a-branch","status":"404"}`)
	case "/repos/docker-library/postgres/releases/latest":
		if conditional(`"rel-1"`) {
			return
		}
		fmt.Fprint(w, releaseBody)
	default:
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/repos#get-a-repository","status":"404"}`)
	}
}

func newClient(t *testing.T, f *fakeGitHub) *github.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := github.New(srv.URL, "tok", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckAndConditionalRequests(t *testing.T) {
	f := &fakeGitHub{}
	c := newClient(t, f)
	st, err := c.Check(context.Background(), "docker-library/postgres", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := st.Facts
	if got.State != "ok" || got.Stars != 2345 || got.Archived || got.License != "MIT" || got.Repository != "docker-library/postgres" || got.DefaultBranch != "master" {
		t.Errorf("facts = %+v", got)
	}
	// The last push is the default branch's, not the repository's
	// pushed_at (a later push to another branch).
	if got.PushedAt == nil || !got.PushedAt.Equal(branchPushed) {
		t.Errorf("pushed_at = %v, want the default branch's head commit date %v", got.PushedAt, branchPushed)
	}
	if got.LatestRelease == nil || got.LatestRelease.Tag != "v1.2.3" || got.LatestRelease.PublishedAt == nil {
		t.Errorf("latest_release = %+v", got.LatestRelease)
	}
	// Again with the ETags: all three answers are 304 and the facts stay.
	hits := f.hits.Load()
	again, err := c.Check(context.Background(), "docker-library/postgres", &st)
	if err != nil {
		t.Fatal(err)
	}
	if sent, n304 := f.hits.Load()-hits, f.notModified.Load(); sent != 3 || n304 != 3 {
		t.Errorf("a check where nothing changed sent %d requests, %d answered 304; want 3 and 3", sent, n304)
	}
	if d := cmp.Diff(st.Facts, again.Facts, cmpopts.IgnoreFields(inventory.GitHubFacts{}, "CheckedAt")); d != "" {
		t.Errorf("facts after 304s (-first +again):\n%s", d)
	}
	if again.RepoETag != st.RepoETag || again.BranchETag != st.BranchETag || again.BranchETag == "" {
		t.Errorf("ETags after 304s: %+v, want those of %+v", again, st)
	}
}

// A state stored before the default branch was kept has the repository's
// ETag but no branch: the repository is asked again without it.
func TestStateWithoutDefaultBranch(t *testing.T) {
	f := &fakeGitHub{}
	c := newClient(t, f)
	old := github.State{RepoETag: `W/"repo-postgres"`, ReleaseETag: `"rel-1"`,
		Facts: inventory.GitHubFacts{State: "ok", Repository: "docker-library/postgres", Stars: 1,
			LatestRelease: &inventory.Release{Tag: "v1.2.3"}}}
	st, err := c.Check(context.Background(), "docker-library/postgres", &old)
	if err != nil {
		t.Fatal(err)
	}
	if st.Facts.DefaultBranch != "master" || st.Facts.PushedAt == nil || !st.Facts.PushedAt.Equal(branchPushed) || st.Facts.Stars != 2345 {
		t.Errorf("facts = %+v, want the default branch and its last push", st.Facts)
	}
}

func TestRenamedRepository(t *testing.T) {
	c := newClient(t, &fakeGitHub{})
	st, err := c.Check(context.Background(), "old-owner/postgres", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Facts.Repository != "docker-library/postgres" || st.Facts.LatestRelease == nil || st.Facts.PushedAt == nil {
		t.Errorf("renamed: %+v", st.Facts)
	}
}

func TestNotFoundNoReleaseAndEmptyRepository(t *testing.T) {
	c := newClient(t, &fakeGitHub{})
	if _, err := c.Check(context.Background(), "nobody/nothing", nil); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	// Its default branch, release/1.x, has a slash in its name.
	st, err := c.Check(context.Background(), "docker-library/archived", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Facts.Archived || st.Facts.LatestRelease != nil || st.Facts.PushedAt == nil || st.Facts.DefaultBranch != "release/1.x" {
		t.Errorf("archived without releases: %+v", st.Facts)
	}
	// A repository without commits has no branch yet: no last push, and
	// no error either.
	st, err = c.Check(context.Background(), "docker-library/empty", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Facts.State != "ok" || st.Facts.PushedAt != nil || st.Facts.DefaultBranch != "main" {
		t.Errorf("empty repository: %+v", st.Facts)
	}
}

// The limit can be reached between two requests of one check: the check
// pauses like any other, it does not fail.
func TestRateLimitInTheMiddleOfACheck(t *testing.T) {
	f := &fakeGitHub{reset: time.Now().Add(time.Hour).Truncate(time.Second)}
	f.limitBranches.Store(true)
	c := newClient(t, f)
	_, err := c.Check(context.Background(), "docker-library/postgres", nil)
	var rl *github.RateLimitedError
	if !errors.As(err, &rl) || !rl.Until.Equal(f.reset) {
		t.Fatalf("err = %v, want a RateLimitedError until %v", err, f.reset)
	}
	hits := f.hits.Load()
	if _, err := c.Check(context.Background(), "docker-library/postgres", nil); !errors.As(err, &rl) || f.hits.Load() != hits {
		t.Errorf("during the pause: %v, %d requests sent", err, f.hits.Load()-hits)
	}
}

func TestRateLimitPausesInsteadOfHammering(t *testing.T) {
	for _, kind := range []string{"primary 403", "secondary 429"} {
		t.Run(kind, func(t *testing.T) {
			f := &fakeGitHub{reset: time.Now().Add(time.Hour).Truncate(time.Second)}
			if kind == "primary 403" {
				f.limited.Store(true)
			} else {
				f.secondary.Store(true)
			}
			c := newClient(t, f)
			_, err := c.Check(context.Background(), "docker-library/postgres", nil)
			var rl *github.RateLimitedError
			if !errors.As(err, &rl) {
				t.Fatalf("err = %v, want a RateLimitedError", err)
			}
			if kind == "primary 403" && !rl.Until.Equal(f.reset) {
				t.Errorf("paused until %v, want X-RateLimit-Reset %v", rl.Until, f.reset)
			}
			if kind == "secondary 429" && time.Until(rl.Until) < 20*time.Second {
				t.Errorf("paused until %v, want Retry-After: 30", rl.Until)
			}
			hits := f.hits.Load()
			for range 5 {
				if _, err := c.Check(context.Background(), "docker-library/postgres", nil); !errors.As(err, &rl) {
					t.Fatalf("during the pause: %v", err)
				}
			}
			if f.hits.Load() != hits {
				t.Errorf("%d requests sent during the pause", f.hits.Load()-hits)
			}
		})
	}
}

func TestParseRepo(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/docker-library/postgres":          "docker-library/postgres",
		"https://github.com/docker-library/postgres.git":      "docker-library/postgres",
		"https://github.com/docker-library/postgres/tree/x/y": "docker-library/postgres",
		"https://gitlab.com/a/b":                              "",
		"https://github.com/onlyowner":                        "",
	} {
		got, _ := github.ParseRepo(in)
		if got != want {
			t.Errorf("ParseRepo(%q) = %q, want %q", in, got, want)
		}
	}
}
