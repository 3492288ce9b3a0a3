package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker-examples/stack/services/api/internal/github"
)

// fakeGitHub replays the documented shapes of GET /repos/{owner}/{repo}
// and GET /repos/{owner}/{repo}/releases/latest
// (docs.github.com/rest/repos/repos, /rest/releases/releases), errors
// included: 304 on a matching If-None-Match, 301 for a renamed repository,
// 404, and the primary and secondary rate limits.
type fakeGitHub struct {
	limited   atomic.Bool // answer 403 with X-RateLimit-Remaining: 0
	secondary atomic.Bool // answer 429 with Retry-After
	hits      atomic.Int64
	reset     time.Time
}

const repoBody = `{"id":1296269,"node_id":"MDEwOlJlcG9zaXRvcnkxMjk2MjY5","name":"postgres","full_name":"docker-library/%s",
"private":false,"html_url":"https://github.com/docker-library/postgres","fork":false,"stargazers_count":2345,
"watchers_count":2345,"default_branch":"master","archived":%t,"disabled":false,"pushed_at":"2026-11-20T10:00:00Z",
"license":{"key":"mit","name":"MIT License","spdx_id":"MIT","url":"https://api.github.com/licenses/mit","node_id":"MDc6TGljZW5zZW1pdA=="}}`

const releaseBody = `{"url":"https://api.github.com/repos/docker-library/postgres/releases/1","tag_name":"v1.2.3",
"name":"v1.2.3","draft":false,"prerelease":false,"created_at":"2026-11-01T00:00:00Z","published_at":"2026-11-02T00:00:00Z"}`

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-RateLimit-Limit", "60")
	if f.limited.Load() {
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
	switch r.URL.Path {
	case "/repos/old-owner/postgres":
		w.Header().Set("Location", "/repositories/1296269")
		w.WriteHeader(http.StatusMovedPermanently)
		fmt.Fprint(w, `{"message":"Moved Permanently","url":"https://api.github.com/repositories/1296269","documentation_url":"https://docs.github.com/v3/#http-redirects"}`)
	case "/repos/docker-library/postgres", "/repositories/1296269", "/repos/docker-library/archived":
		archived := r.URL.Path == "/repos/docker-library/archived"
		etag := `W/"repo-` + strconv.FormatBool(archived) + `"`
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		name := "postgres"
		if archived {
			name = "archived"
		}
		fmt.Fprintf(w, repoBody, name, archived)
	case "/repos/docker-library/postgres/releases/latest":
		if r.Header.Get("If-None-Match") == `"rel-1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"rel-1"`)
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
	if got.State != "ok" || got.Stars != 2345 || got.Archived || got.License != "MIT" || got.Repository != "docker-library/postgres" {
		t.Errorf("facts = %+v", got)
	}
	if got.PushedAt == nil || got.LatestRelease == nil || got.LatestRelease.Tag != "v1.2.3" || got.LatestRelease.PublishedAt == nil {
		t.Errorf("pushed_at/latest_release = %v %+v", got.PushedAt, got.LatestRelease)
	}
	// Again with the ETags: both answers are 304 and the facts stay.
	again, err := c.Check(context.Background(), "docker-library/postgres", &st)
	if err != nil {
		t.Fatal(err)
	}
	if again.Facts.Stars != 2345 || again.Facts.LatestRelease == nil || again.RepoETag != st.RepoETag {
		t.Errorf("after 304: %+v", again)
	}
}

func TestRenamedRepository(t *testing.T) {
	c := newClient(t, &fakeGitHub{})
	st, err := c.Check(context.Background(), "old-owner/postgres", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Facts.Repository != "docker-library/postgres" || st.Facts.LatestRelease == nil {
		t.Errorf("renamed: %+v", st.Facts)
	}
}

func TestNotFoundAndNoRelease(t *testing.T) {
	c := newClient(t, &fakeGitHub{})
	if _, err := c.Check(context.Background(), "nobody/nothing", nil); !errors.Is(err, github.ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
	st, err := c.Check(context.Background(), "docker-library/archived", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Facts.Archived || st.Facts.LatestRelease != nil {
		t.Errorf("archived without releases: %+v", st.Facts)
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
