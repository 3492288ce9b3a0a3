// Command dockerfilelint checks Dockerfiles with BuildKit's own lint rules
// (the checks `docker build --check` runs), used as a library so it needs no
// BuildKit daemon and no registry. It prints one line per finding and exits
// 1 when there is any.
//
//	go tool -modfile=tools/go.mod dockerfilelint Dockerfile deploy/postgres/Dockerfile
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	digest "github.com/opencontainers/go-digest"
)

func main() {
	n, err := run(context.Background(), os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilelint:", err)
		os.Exit(2)
	}
	if n > 0 {
		os.Exit(1)
	}
}

// run lints each named file and returns how many findings it printed.
func run(ctx context.Context, files []string, out io.Writer) (int, error) {
	if len(files) == 0 {
		return 0, errors.New("usage: dockerfilelint FILE [FILE]")
	}
	total := 0
	for _, name := range files {
		n, err := lintFile(ctx, name, out)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

func lintFile(ctx context.Context, name string, out io.Writer) (int, error) {
	dt, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	sm := llb.NewSourceMap(nil, name, "Dockerfile", dt)
	// DockerfileLint reads the source map's definition; an empty one is
	// enough when nothing is being built.
	sm.Definition = &llb.Definition{}
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		SourceMap:    sm,
		MetaResolver: offlineResolver{},
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	n := 0
	for _, w := range res.Warnings {
		line := 0
		if w.Location != nil && len(w.Location.Ranges) > 0 {
			line = int(w.Location.Ranges[0].Start.Line)
		}
		fmt.Fprintf(out, "%s:%d: %s: %s (%s)\n", name, line, w.RuleName, w.Detail, w.URL)
		n++
	}
	if res.Error != nil {
		fmt.Fprintf(out, "%s: %s\n", name, res.Error.Message)
		n++
	}
	return n, nil
}

// offlineResolver answers every base image with an empty configuration, so
// linting never reaches for a registry: the rules check the Dockerfile, not
// its base images.
type offlineResolver struct{}

func (offlineResolver) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, "", []byte(`{"config":{}}`), nil
}
