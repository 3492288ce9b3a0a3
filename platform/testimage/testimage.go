// Package testimage chooses the container images that integration tests
// start with testcontainers-go, so that a plain `go test ./...` at the
// repository root finds them with no variable set.
//
// For each service (PostgreSQL, Redis) the image is, in order:
//
//  1. the variable POSTGRES_IMAGE / REDIS_IMAGE, when set;
//  2. the base image `make images` built or pulled, as written in
//     deploy/images.env, when that image is present in the local engine;
//  3. when this checkout has no deploy/images.env (a second clone or a git
//     worktree beside the one that ran `make images`), a stand-in image
//     that scripts/standins.sh built in the same engine (the newest
//     docker-examples/postgres or docker-examples/redis tag);
//  4. the official image (postgres:17-alpine, redis:7.4-alpine), when it is
//     present or the engine can pull it.
//
// When none can be had, Find reports why in a sentence that tells the user
// to run `make images`; the caller skips (or fails under CI=true).
//
// Find also sets the two testcontainers variables this project relies on,
// unless the caller set them: TESTCONTAINERS_RYUK_DISABLED=true (the reaper
// image is not pulled; tests remove their own containers, which carry the
// org.testcontainers label) and, with a local engine,
// TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 (published ports are on loopback
// even when the tests run inside a container).
package testimage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Service names one of the stack's data services.
type Service struct {
	envVar   string // explicit override
	fileKey  string // key in deploy/images.env
	standin  string // repository of the stand-in scripts/standins.sh builds
	official string // the image users pull
}

// The services integration tests start.
var (
	Postgres = Service{envVar: "POSTGRES_IMAGE", fileKey: "POSTGRES_BASE_IMAGE", standin: "docker-examples/postgres", official: "postgres:17-alpine"}
	Redis    = Service{envVar: "REDIS_IMAGE", fileKey: "REDIS_BASE_IMAGE", standin: "docker-examples/redis", official: "redis:7.4-alpine"}
)

var envOnce sync.Once

// Find returns the image to start for s, or "" and the reason none is
// available. It may pull the official image (bounded by ctx). Safe for
// concurrent use.
func Find(ctx context.Context, s Service) (image, why string) {
	envOnce.Do(setDefaults)
	if img := os.Getenv(s.envVar); img != "" {
		return img, ""
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", fmt.Sprintf("no Docker engine answers (%v): start one, or set TEST_POSTGRES_URL and TEST_REDIS_URL", err)
	}
	defer cli.Close()
	root, _ := repoRoot()
	return choose(s, root, docker{ctx: ctx, cli: cli})
}

// engine is what choose asks of the Docker engine.
type engine interface {
	present(img string) bool
	newest(repo string) string // the newest tag of repo, or ""
	pull(img string) error
}

// choose is Find's order (steps 2 to 4 of the package comment) for a
// checkout at root ("" when none was found) and an engine.
func choose(s Service, root string, e engine) (image, why string) {
	var tried []string
	if root != "" {
		img, err := readEnvFile(filepath.Join(root, "deploy", "images.env"), s.fileKey)
		switch {
		case err == nil && img != "":
			if e.present(img) {
				return img, ""
			}
			tried = append(tried, img+" (named in deploy/images.env, not in the engine)")
		case errors.Is(err, fs.ErrNotExist):
			if img := e.newest(s.standin); img != "" {
				return img, ""
			}
		}
	}
	if e.present(s.official) || e.pull(s.official) == nil {
		return s.official, ""
	}
	tried = append(tried, s.official+" (not present, and no registry answers)")
	return "", fmt.Sprintf("no %s image: tried %s; run `make images`", s.envVar, strings.Join(tried, ", "))
}

// docker is the engine a DockerClient reaches.
type docker struct {
	ctx context.Context
	cli *testcontainers.DockerClient
}

func (d docker) present(img string) bool   { return present(d.ctx, d.cli, img) }
func (d docker) newest(repo string) string { return newest(d.ctx, d.cli, repo) }
func (d docker) pull(img string) error     { return pull(d.ctx, d.cli, img) }

func setDefaults() {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		_ = os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		if h := os.Getenv("DOCKER_HOST"); h == "" || strings.HasPrefix(h, "unix://") {
			_ = os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		}
	}
}

func present(ctx context.Context, cli *testcontainers.DockerClient, img string) bool {
	_, err := cli.ImageInspect(ctx, img)
	return err == nil
}

// newest returns the most recently created tag of repo in the engine, or "".
func newest(ctx context.Context, cli *testcontainers.DockerClient, repo string) string {
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("reference", repo)})
	if err != nil {
		return ""
	}
	var best string
	var created int64
	for _, im := range res.Items {
		for _, tag := range im.RepoTags {
			if strings.HasPrefix(tag, repo+":") && (best == "" || im.Created > created) {
				best, created = tag, im.Created
			}
		}
	}
	return best
}

func pull(ctx context.Context, cli *testcontainers.DockerClient, img string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	rc, err := cli.ImagePull(ctx, img, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	if err != nil {
		return err
	}
	if !present(ctx, cli, img) {
		return errors.New("pull ended without the image")
	}
	return nil
}

// repoRoot walks up from the working directory (a package's folder under
// `go test`) to the folder holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}

// readEnvFile returns the value of key in a KEY=value file (# comments).
func readEnvFile(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == key {
			return strings.Trim(strings.TrimSpace(v), `"'`), nil
		}
	}
	return "", sc.Err()
}
