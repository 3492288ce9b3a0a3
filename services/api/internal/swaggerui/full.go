//go:build !swaggerui_trimmed

package swaggerui

import (
	"io/fs"

	swaggerfiles "github.com/swaggo/files/v2"
)

// FS holds Swagger UI's files at its root. Safe for concurrent use.
var FS fs.FS = swaggerfiles.FS
