package app

import (
	"testing"

	"github.com/docker-examples/stack/platform/servetest"
)

// TestRun checks what every service of the stack promises: /health, a
// clean stop, config errors that name the variable, the healthcheck.
func TestRun(t *testing.T) {
	servetest.TestRun(t, Run, map[string]string{"PORT": "0", "SHUTDOWN_DRAIN": "0s"})
}
