package ratelimit_test

import (
	"os"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}
