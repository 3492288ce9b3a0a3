// Package platform is the module of the pieces every service of the stack
// shares: build information, secret lookup, the HTTP server lifecycle, the
// healthcheck subcommand and logging. Each piece is its own package.
package platform
