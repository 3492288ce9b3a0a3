// Package migrations embeds the goose SQL migrations of the API's schema.
// The API is the only owner of the schema: it runs these files with
// `api migrate` (or the one-shot migrate service in compose), never the
// frontend. File names are goose's: NNNNN_description.sql.
package migrations

import "embed"

// FS holds every migration file at its root.
//
//go:embed *.sql
var FS embed.FS
