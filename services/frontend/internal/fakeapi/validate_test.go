package fakeapi

import (
	"strings"
	"testing"
)

// TestNormalizeImage holds the fake's image references to the API's: each
// want is what github.com/distribution/reference v0.6.0, the API's parser,
// answers (ParseNormalizedNamed, then TagNameOnly); "" is an error.
func TestNormalizeImage(t *testing.T) {
	sha256, sha512 := strings.Repeat("a", 64), strings.Repeat("b", 128)
	tests := []struct{ in, want string }{
		{"postgres", "docker.io/library/postgres:latest"},
		{"postgres:17-alpine", "docker.io/library/postgres:17-alpine"},
		{"library/postgres", "docker.io/library/postgres:latest"},
		{"docker.io/postgres", "docker.io/library/postgres:latest"},
		{"index.docker.io/library/redis:7", "docker.io/library/redis:7"},
		{"a/b/c/d", "docker.io/a/b/c/d:latest"},
		{"example.com", "docker.io/library/example.com:latest"},
		{"a-b.c_d/e", "a-b.c_d/e:latest"},
		{"localhost/foo", "localhost/foo:latest"},
		{"localhost:5000/foo/bar:tag", "localhost:5000/foo/bar:tag"},
		{"[::1]:5000/x", "[::1]:5000/x:latest"},
		{"Foo/bar", "Foo/bar:latest"}, // an upper-case first part is a domain
		{"registry.example.com:5000/a__b/c---d:V1.0", "registry.example.com:5000/a__b/c---d:V1.0"},
		{"my__image", "docker.io/library/my__image:latest"},
		{"ghcr.io/org/app@sha256:" + sha256, "ghcr.io/org/app@sha256:" + sha256},
		{"ghcr.io/org/app:1.2@sha256:" + sha256, "ghcr.io/org/app:1.2@sha256:" + sha256},
		{"x@sha512:" + sha512, "docker.io/library/x@sha512:" + sha512},
		{"foo/Bar", ""},
		{"UPPER", ""},
		{"Not A Valid Image!!", ""},
		{"my___image", ""},
		{"x:", ""},
		{"foo/bar:" + strings.Repeat("t", 129), ""},
		{"x@sha256:abc", ""},
		{"x@sha256:" + strings.ToUpper(sha256), ""},
		{"x@md5:" + strings.Repeat("b", 32), ""},
		{sha256, ""},
		{"example.com/", ""},
		{"/foo", ""},
		{"foo//bar", ""},
	}
	for _, tt := range tests {
		got, err := normalizeImage(tt.in)
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("normalizeImage(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
