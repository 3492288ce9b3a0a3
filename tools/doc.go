// Package tools is the module that pins the developer tools `make lint`
// runs (staticcheck, as a `go tool`) and holds the project's own small
// checkers, such as dockerfilelint.
package tools
