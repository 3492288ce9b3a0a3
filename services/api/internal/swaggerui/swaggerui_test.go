package swaggerui_test

import (
	"io/fs"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/swaggerui"
)

// TestFilesExist guards the list trimmed builds keep: every file /docs
// loads must be in it and readable from FS.
func TestFilesExist(t *testing.T) {
	for _, name := range swaggerui.Files {
		b, err := fs.ReadFile(swaggerui.FS, name)
		if err != nil || len(b) == 0 {
			t.Errorf("%s: got %d bytes, %v", name, len(b), err)
		}
	}
}
