// Package buildinfo holds the version and commit a binary was built from.
// Both are set at link time:
//
//	go build -ldflags "-X github.com/docker-examples/stack/platform/buildinfo.Version=v1.2.3 \
//	  -X github.com/docker-examples/stack/platform/buildinfo.Commit=abc123"
package buildinfo

import "runtime"

// Version and Commit are set by the linker; a plain `go build` leaves the
// defaults.
var (
	Version = "dev"
	Commit  = "unknown"
)

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }
