//go:build swaggerui_trimmed

package swaggerui

import (
	"embed"
	"io/fs"
)

//go:embed trimmed
var trimmed embed.FS

// FS holds the files listed in Files at its root. Safe for concurrent use.
var FS fs.FS = mustSub(trimmed, "trimmed")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		// fs.Sub fails only for an invalid path, which "trimmed" is not.
		panic(err)
	}
	return sub
}
