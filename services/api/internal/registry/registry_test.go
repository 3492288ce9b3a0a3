package registry_test

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/netguard"
	"github.com/docker-examples/stack/services/api/internal/registry"
	"github.com/docker-examples/stack/services/api/internal/tagver"
	"github.com/docker-examples/stack/services/api/registrytest"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T, cfg registry.Config) *registry.Client {
	t.Helper()
	c, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckVersionTagsAndUpdates(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	for i, tag := range []string{"17.2-alpine", "17.3-alpine", "17.10-alpine", "18.1-alpine", "18-bookworm", "17.11-rc1-alpine", "latest"} {
		reg.Push(t, "library/postgres:"+tag, registrytest.Image(t, t0.Add(time.Duration(i)*time.Hour)))
	}
	c := newClient(t, registry.Config{Insecure: []string{reg.Host}})
	got, err := c.Check(context.Background(), reg.Host+"/library/postgres:17.2-alpine", nil, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != inventory.StateOK || !strings.HasPrefix(got.Digest, "sha256:") {
		t.Fatalf("state %q digest %q", got.State, got.Digest)
	}
	if got.Created == nil || !got.Created.Equal(t0) {
		t.Errorf("created = %v, want %v", got.Created, t0)
	}
	if got.SizeBytes <= 0 {
		t.Errorf("size_bytes = %d", got.SizeBytes)
	}
	if diff := cmp.Diff([]string{"linux/amd64"}, got.Platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	want := &inventory.Update{Available: true, NewestInMajor: "17.10-alpine", Newest: "18.1-alpine"}
	if diff := cmp.Diff(want, got.Update); diff != "" {
		t.Errorf("update (-want +got):\n%s", diff)
	}

	// The newest tag has nothing newer, and the pre-release is ignored.
	got, err = c.Check(context.Background(), reg.Host+"/library/postgres:17.10-alpine", nil, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Update.NewestInMajor != "" || got.Update.Newest != "18.1-alpine" {
		t.Errorf("update for 17.10-alpine = %+v", got.Update)
	}
	// A per-item exclude pattern keeps a major out.
	f, _ := tagver.CompileFilter("", `18\..*`)
	got, err = c.Check(context.Background(), reg.Host+"/library/postgres:17.10-alpine", nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Update.Available {
		t.Errorf("with 18.* excluded, update = %+v", got.Update)
	}
}

func TestCheckFloatingTagDrift(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	first := reg.Push(t, "app:latest", registrytest.Image(t, t0))
	c := newClient(t, registry.Config{Insecure: []string{reg.Host}})
	ref := reg.Host + "/app:latest"
	prev, err := c.Check(context.Background(), ref, nil, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if prev.Digest != first || prev.Update.Available {
		t.Fatalf("first check: digest %s update %+v", prev.Digest, prev.Update)
	}
	before := c.Requests()
	again, err := c.Check(context.Background(), ref, &prev, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Update.Available {
		t.Errorf("unchanged tag reported an update: %+v", again.Update)
	}
	// The version check pings (https, then plain http for an insecure
	// host) and sends one HEAD: no manifest, config or tag list GETs.
	if n := c.Requests() - before; n > 3 {
		t.Errorf("an unchanged floating tag cost %d requests, want at most 3 (pings + HEAD)", n)
	}

	second := reg.Push(t, "app:latest", registrytest.Image(t, t0.Add(24*time.Hour)))
	moved, err := c.Check(context.Background(), ref, &again, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	want := &inventory.Update{Available: true, DigestChanged: true, PreviousDigest: first}
	if diff := cmp.Diff(want, moved.Update); diff != "" {
		t.Errorf("update after the tag moved (-want +got):\n%s", diff)
	}
	if moved.Digest != second || !moved.Created.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("moved: digest %s created %v", moved.Digest, moved.Created)
	}
}

func TestCheckMultiPlatformIndex(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	d := reg.PushIndex(t, "multi:1.0", t0, "linux/amd64", "linux/arm64/v8")
	c := newClient(t, registry.Config{Insecure: []string{reg.Host}})
	got, err := c.Check(context.Background(), reg.Host+"/multi:1.0", nil, tagver.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != d {
		t.Errorf("digest = %s, want the index's %s", got.Digest, d)
	}
	if diff := cmp.Diff([]string{"linux/amd64", "linux/arm64/v8"}, got.Platforms); diff != "" {
		t.Errorf("platforms (-want +got):\n%s", diff)
	}
	if got.Created == nil || got.SizeBytes <= 0 {
		t.Errorf("created %v size %d", got.Created, got.SizeBytes)
	}
}

func TestCheckDeletedTag(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	reg.Push(t, "gone:1.0", registrytest.Image(t, t0))
	reg.Push(t, "gone:1.1", registrytest.Image(t, t0))
	reg.Delete(t, "gone:1.0")
	c := newClient(t, registry.Config{Insecure: []string{reg.Host}})
	_, err := c.Check(context.Background(), reg.Host+"/gone:1.0", nil, tagver.Filter{})
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("deleted tag: err = %v, want 'does not exist'", err)
	}
}

func TestCheckPrivateRepository(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Username: "ci", Password: "s3cret-pass"})
	reg.Push(t, "private/app:2.0", registrytest.Image(t, t0))
	ref := reg.Host + "/private/app:2.0"

	anon := newClient(t, registry.Config{Insecure: []string{reg.Host}})
	if _, err := anon.Check(context.Background(), ref, nil, tagver.Filter{}); err == nil || !strings.Contains(err.Error(), "REGISTRY_AUTH_FILE") {
		t.Fatalf("without credentials: err = %v, want a hint at REGISTRY_AUTH_FILE", err)
	}

	path := filepath.Join(t.TempDir(), "config.json")
	auth := base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pass"))
	if err := os.WriteFile(path, []byte(`{"auths":{"`+reg.Host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, registry.Config{AuthFile: path, Insecure: []string{reg.Host}})
	got, err := c.Check(context.Background(), ref, nil, tagver.Filter{})
	if err != nil {
		t.Fatalf("with REGISTRY_AUTH_FILE: %v", err)
	}
	if got.State != inventory.StateOK || got.Digest == "" {
		t.Errorf("got %+v", got)
	}
}

func TestCheckRefusesPrivateTargets(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	reg.Push(t, "app:1.0", registrytest.Image(t, t0))
	// Not listed in REGISTRY_INSECURE or REGISTRY_ALLOW: the registry on
	// loopback is refused, as 169.254.169.254 would be.
	c := newClient(t, registry.Config{})
	for _, ref := range []string{reg.Host + "/app:1.0", "169.254.169.254/app:1.0", "[::1]:5000/app:1.0", "10.0.0.1:5000/app:1.0"} {
		t.Run(ref, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := c.Check(ctx, ref, nil, tagver.Filter{})
			if !errors.Is(err, netguard.ErrRefused) {
				t.Fatalf("err = %v, want a refusal", err)
			}
		})
	}
}

func TestAuthFileErrors(t *testing.T) {
	if _, err := registry.New(registry.Config{AuthFile: filepath.Join(t.TempDir(), "missing.json")}); err == nil {
		t.Error("missing auth file accepted")
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte("{not json"), 0o600)
	if _, err := registry.New(registry.Config{AuthFile: path}); err == nil || !strings.Contains(err.Error(), "REGISTRY_AUTH_FILE") {
		t.Errorf("bad auth file: err = %v", err)
	}
}
