// Package swaggerui provides the Swagger UI files /docs serves.
//
// By default they come straight from github.com/swaggo/files/v2, which
// embeds Swagger UI's whole distribution: 11 MB, most of it source maps and
// bundles /docs never loads. Images are built with the build tag
// swaggerui_trimmed instead, after `go generate` has copied just the files
// /docs uses into trimmed/ (git-ignored; nothing of Swagger UI is kept in
// this repository). That keeps about 9 MB out of the api binary.
package swaggerui

//go:generate go run ./gen trimmed

// Files lists what /docs loads; everything else is left out of trimmed
// builds.
var Files = []string{"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}
