package cache_test

import (
	"os"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/pgtest"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	pgtest.Stop()
	os.Exit(code)
}
