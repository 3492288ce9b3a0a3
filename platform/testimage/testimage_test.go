package testimage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "images.env")
	body := "# Written by scripts/images.sh (debian)\nGO_IMAGE=docker-examples/go:1\nPOSTGRES_BASE_IMAGE=docker-examples/postgres:15-bookworm\nREDIS_BASE_IMAGE=\"docker-examples/redis:7\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"POSTGRES_BASE_IMAGE": "docker-examples/postgres:15-bookworm",
		"REDIS_BASE_IMAGE":    "docker-examples/redis:7",
		"MISSING":             "",
	} {
		got, err := readEnvFile(path, key)
		if err != nil || got != want {
			t.Errorf("readEnvFile(%s) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func TestRepoRootFindsTheWorkspace(t *testing.T) {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("repoRoot() = %s, which has no go.mod: %v", root, err)
	}
}

// fakeEngine holds the images an engine has; nothing can be pulled.
type fakeEngine map[string]bool

func (f fakeEngine) present(img string) bool { return f[img] }
func (f fakeEngine) newest(repo string) string {
	// The tests give at most one tag per repository.
	for img := range f {
		if strings.HasPrefix(img, repo+":") {
			return img
		}
	}
	return ""
}
func (f fakeEngine) pull(string) error { return errors.New("no registry answers") }

// TestChooseOrder: the image deploy/images.env names when the engine has
// it; in a checkout without that file (a worktree, a second clone) the
// stand-in another checkout built; the official image when present; and
// otherwise a reason that says to run `make images`.
func TestChooseOrder(t *testing.T) {
	withEnv := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withEnv, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withEnv, "deploy", "images.env"), []byte("POSTGRES_BASE_IMAGE=docker-examples/postgres:15-bookworm\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noEnv := t.TempDir()
	const named, standin, official = "docker-examples/postgres:15-bookworm", "docker-examples/postgres:old", "postgres:17-alpine"
	for _, tc := range []struct {
		name   string
		root   string
		engine fakeEngine
		want   string
		why    string // a part of the reason, when want is ""
	}{
		{name: "named and present", root: withEnv, engine: fakeEngine{named: true, standin: true, official: true}, want: named},
		{name: "named but gone, official present", root: withEnv, engine: fakeEngine{standin: true, official: true}, want: official},
		{name: "named but gone, nothing else", root: withEnv, engine: fakeEngine{standin: true}, why: named + " (named in deploy/images.env, not in the engine)"},
		{name: "no images.env: the stand-in", root: noEnv, engine: fakeEngine{standin: true, official: true}, want: standin},
		{name: "no images.env, no stand-in", root: noEnv, engine: fakeEngine{official: true}, want: official},
		{name: "no checkout, nothing", root: "", engine: fakeEngine{}, why: "run `make images`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := choose(Postgres, tc.root, tc.engine)
			if got != tc.want {
				t.Fatalf("choose = %q (%s), want %q", got, why, tc.want)
			}
			if tc.want == "" && !strings.Contains(why, tc.why) {
				t.Errorf("reason %q does not say %q", why, tc.why)
			}
		})
	}
}
