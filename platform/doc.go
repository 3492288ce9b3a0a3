// Package platform is the module of the pieces every service of the stack
// shares: build information, secret lookup, the HTTP server lifecycle, the
// healthcheck subcommand, logging, the process wiring of each binary
// (command), the bounded label values of request metrics (metriclabel), a
// benchmark's CPU time per operation (benchcpu) and
// the test helpers that run a binary's run (servetest).
// Each piece is its own package.
package platform
