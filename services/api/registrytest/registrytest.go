// Package registrytest runs a real OCI registry,
// github.com/distribution/distribution/v3 with its in-memory storage, in
// the test process on a loopback port, and pushes real images to it with
// go-containerregistry. It is for tests and benchmarks only.
package registrytest

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"           // htpasswd access controller
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory" // in-memory storage
)

// Registry is one running registry.
type Registry struct {
	// Host is host:port on 127.0.0.1, reached over plain HTTP.
	Host string
	auth authn.Authenticator
}

// Options configure Start.
type Options struct {
	// Username and Password, when set, make every request need them
	// (htpasswd basic auth), like a private registry.
	Username, Password string
}

// Start runs a registry until the test ends.
func Start(tb testing.TB, o Options) *Registry {
	tb.Helper()
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{}
	cfg.Storage = configuration.Storage{"inmemory": configuration.Parameters{}, "delete": configuration.Parameters{"enabled": true}}
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"
	r := &Registry{auth: authn.Anonymous}
	if o.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			tb.Fatal(err)
		}
		path := filepath.Join(tb.TempDir(), "htpasswd")
		if err := os.WriteFile(path, []byte(o.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			tb.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "test", "path": path}}
		r.auth = authn.FromConfig(authn.AuthConfig{Username: o.Username, Password: o.Password})
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, cfg)
	srv := httptest.NewServer(app)
	tb.Cleanup(func() { srv.Close(); cancel() })
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *Registry) ref(tb testing.TB, repoTag string) name.Reference {
	tb.Helper()
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

// Image returns a new random image (two small layers) created at t.
func Image(tb testing.TB, created time.Time) v1.Image {
	tb.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS, cf.Architecture = "linux", "amd64"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		tb.Fatal(err)
	}
	return img
}

// Push writes img as repo:tag and returns its digest.
func (r *Registry) Push(tb testing.TB, repoTag string, img v1.Image) string {
	tb.Helper()
	if err := remote.Write(r.ref(tb, repoTag), img, remote.WithAuth(r.auth)); err != nil {
		tb.Fatalf("push %s: %v", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// PushIndex writes a multi-platform index of one random image per
// platform ("linux/amd64", "linux/arm64/v8") as repo:tag and returns its
// digest.
func (r *Registry) PushIndex(tb testing.TB, repoTag string, created time.Time, platforms ...string) string {
	tb.Helper()
	idx := v1.ImageIndex(empty.Index)
	for _, p := range platforms {
		plat, err := v1.ParsePlatform(p)
		if err != nil {
			tb.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        Image(tb, created),
			Descriptor: v1.Descriptor{Platform: plat},
		})
	}
	if err := remote.WriteIndex(r.ref(tb, repoTag), idx, remote.WithAuth(r.auth)); err != nil {
		tb.Fatalf("push index %s: %v", repoTag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}

// Delete deletes the manifest repo:tag points at (and so the tag).
func (r *Registry) Delete(tb testing.TB, repoTag string) {
	tb.Helper()
	ref := r.ref(tb, repoTag)
	desc, err := remote.Head(ref, remote.WithAuth(r.auth))
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Delete(ref.Context().Digest(desc.Digest.String()), remote.WithAuth(r.auth)); err != nil {
		tb.Fatalf("delete %s: %v", repoTag, err)
	}
}
