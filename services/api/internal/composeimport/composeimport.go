// Package composeimport reads a compose file a user sent and lists the
// images its services run, with github.com/compose-spec/compose-go/v2:
// every profile is enabled, `extends` and anchors inside the file work,
// and variables are interpolated from the request's own variables only,
// never from the server's environment. The file is untrusted: nothing
// outside it is read (extends/include of other files, env_file and
// label_file are refused or skipped), and its size is bounded.
package composeimport

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// MaxBytes bounds a compose file.
const MaxBytes = 1 << 20

// Service is one service of the file.
type Service struct {
	Name  string
	Image string // empty for a build-only service
	Build bool
}

// Project is what a compose file names.
type Project struct {
	Name     string
	Services []Service // sorted by name
}

// Error is a problem with the file itself: bad YAML, an invalid compose
// model, a missing required variable. Line is 0 when unknown.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// ErrTooLarge is returned for files over MaxBytes.
var ErrTooLarge = errors.New("compose file larger than 1 MiB")

var lineRE = regexp.MustCompile(`line (\d+)`)

// refuseFiles is a resource loader that accepts every reference so that
// compose-go never falls back to reading the server's disk.
type refuseFiles struct{}

func (refuseFiles) Accept(string) bool { return true }
func (refuseFiles) Load(_ context.Context, p string) (string, error) {
	return "", fmt.Errorf("%q: only the one file sent is read; extends and include of other files are not supported", p)
}
func (refuseFiles) Dir(p string) string { return p }

// Parse reads data. project names the project when the file has no
// top-level name (default "compose"). vars are the only variables
// interpolation sees.
func Parse(ctx context.Context, data []byte, vars map[string]string, project string) (Project, error) {
	if len(data) > MaxBytes {
		return Project{}, ErrTooLarge
	}
	if vars == nil {
		vars = map[string]string{}
	}
	details := types.ConfigDetails{
		WorkingDir:  "/nonexistent-compose-import",
		ConfigFiles: []types.ConfigFile{{Filename: "compose.yaml", Content: data}},
		Environment: types.Mapping(vars),
	}
	opts := []func(*loader.Options){
		func(o *loader.Options) {
			o.Profiles = []string{"*"}
			o.ResolvePaths = false
			o.SkipResolveEnvironment = true // env_file would read the server's disk
			o.SkipResolveLabels = true      // label_file likewise
			o.SkipInclude = true
			o.SkipConsistencyCheck = false
			o.ResourceLoaders = []loader.ResourceLoader{refuseFiles{}}
			if project != "" {
				o.SetProjectName(loader.NormalizeProjectName(project), true)
			}
		},
	}
	if project == "" && !hasName(data) {
		opts = append(opts, func(o *loader.Options) { o.SetProjectName("compose", false) })
	}
	p, err := loader.LoadWithContext(ctx, details, opts...)
	if err != nil {
		return Project{}, fileError(err)
	}
	out := Project{Name: p.Name}
	for name, s := range p.Services {
		out.Services = append(out.Services, Service{Name: name, Image: s.Image, Build: s.Build != nil})
	}
	for name, s := range p.DisabledServices {
		out.Services = append(out.Services, Service{Name: name, Image: s.Image, Build: s.Build != nil})
	}
	sort.Slice(out.Services, func(i, j int) bool { return out.Services[i].Name < out.Services[j].Name })
	return out, nil
}

var nameRE = regexp.MustCompile(`(?m)^name:`)

func hasName(data []byte) bool { return nameRE.Match(data) }

func fileError(err error) error {
	msg := err.Error()
	line := 0
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	return &Error{Line: line, Msg: msg}
}
