// Package platform is the module of the pieces every service of the stack
// shares: build information, secret lookup, the HTTP server lifecycle, the
// healthcheck subcommand, logging and the process wiring of each binary
// (command). Each piece is its own package.
package platform
