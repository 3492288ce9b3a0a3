// Command gen copies the Swagger UI files /docs uses (swaggerui.Files) from
// github.com/swaggo/files/v2 into a directory, for builds with the tag
// swaggerui_trimmed. Run it through `go generate`.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	swaggerfiles "github.com/swaggo/files/v2"

	"github.com/docker-examples/stack/services/api/internal/swaggerui"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "swaggerui/gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range swaggerui.Files {
		b, err := fs.ReadFile(swaggerfiles.FS, name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
