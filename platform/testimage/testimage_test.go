package testimage

import (
	"os"
	"path/filepath"
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
