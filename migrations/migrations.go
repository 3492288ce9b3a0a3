// Package migrations embeds the goose SQL migrations of the API's schema.
// The API is the only owner of the schema: it runs these files with
// `api migrate` (or the one-shot migrate service in compose), never the
// frontend. File names are goose's: NNNNN_description.sql.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// FS holds every migration file at its root.
//
//go:embed *.sql
var FS embed.FS

// Latest is the highest version among the files of FS: the schema version
// a binary built with them needs (goose_db_version's largest version_id
// once `migrate up` has run).
func Latest() (int64, error) {
	names, err := fs.Glob(FS, "*.sql")
	if err != nil {
		return 0, err
	}
	var latest int64
	for _, n := range names {
		num, _, ok := strings.Cut(n, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil {
			return 0, fmt.Errorf("migrations: %s: not NNNNN_description.sql", n)
		}
		latest = max(latest, v)
	}
	return latest, nil
}
