// Package web holds the UI's source files, embedded into the binary: plain
// HTML, CSS and JavaScript modules with no build step. Package assets turns
// them into what the service serves.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the UI source tree, rooted at its index.html.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // unreachable: "static" is embedded above
	}
	return sub
}
