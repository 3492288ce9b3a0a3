package assets

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Export writes every file into dir at its URL path, each compressed variant
// beside it with the suffix ".gz" or ".br", the layout a static web server
// serves with nginx's gzip_static. Existing files are overwritten.
func (s *Set) Export(dir string) error {
	for _, f := range s.Files() {
		name := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(f.URLPath, "/")))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		for _, rep := range f.reps {
			suffix := ""
			switch rep.encoding {
			case encGzip:
				suffix = ".gz"
			case encBrotli:
				suffix = ".br"
			}
			if err := os.WriteFile(name+suffix, rep.body, 0o644); err != nil {
				return fmt.Errorf("export: %w", err)
			}
		}
	}
	return nil
}
