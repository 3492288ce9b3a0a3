package main

import (
	"context"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// start serves the registry on a free loopback port until the test ends.
func start(t *testing.T, blobDir string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	env := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "BLOB_DIR": blobDir}
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, io.Discard, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v, want a clean shutdown", err)
		}
	})
	return addr
}

// A pushed image can be pulled back by tag, byte for byte, from memory
// and from disk; healthcheck answers once the registry serves.
func TestPushPull(t *testing.T) {
	for _, tc := range []struct{ name, dir string }{{"memory", ""}, {"disk", t.TempDir()}} {
		t.Run(tc.name, func(t *testing.T) {
			addr := start(t, tc.dir)
			if err := run(t.Context(), []string{"healthcheck"}, func(k string) string {
				if k == "LISTEN_ADDR" {
					return addr
				}
				return ""
			}, io.Discard, nil); err != nil {
				t.Fatalf("healthcheck: %v", err)
			}
			img, err := random.Image(1<<20, 3)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := name.ParseReference(addr+"/docker-examples/api:dev", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatalf("push: %v", err)
			}
			got, err := remote.Image(ref)
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			want, _ := img.Digest()
			if d, _ := got.Digest(); d != want {
				t.Errorf("pulled digest %s, want %s", d, want)
			}
			layers, err := got.Layers()
			if err != nil || len(layers) != 3 {
				t.Fatalf("pulled %d layers (%v), want 3", len(layers), err)
			}
			rc, err := layers[2].Compressed()
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, rc)
			rc.Close()
			if err != nil || n == 0 {
				t.Errorf("reading a pulled layer: %d bytes, %v", n, err)
			}
			tags, err := remote.List(ref.Context())
			if err != nil || len(tags) != 1 || tags[0] != "dev" {
				t.Errorf("tags %v (%v), want [dev]", tags, err)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(t.Context(), []string{"sideways"}, func(string) string { return "" }, io.Discard, nil); err == nil {
		t.Error("run sideways: no error, want one naming the command")
	}
}
