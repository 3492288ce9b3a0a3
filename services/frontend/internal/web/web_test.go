package web_test

import (
	"testing"

	"github.com/docker-examples/stack/services/frontend/internal/assets"
	"github.com/docker-examples/stack/services/frontend/internal/web"
)

// The real UI builds: every relative import resolves, no cycle, and the
// first view stays small.
func TestUIBuildsAndFirstViewIsSmall(t *testing.T) {
	set, err := assets.Build(web.FS())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, f := range set.Closure("/index.html") {
		total += f.Size("gzip")
	}
	const budget = 100 << 10
	if total > budget {
		t.Errorf("first view is %d bytes gzip, over the %d byte budget", total, budget)
	}
	t.Logf("first view: %d files, %d bytes gzip", len(set.Closure("/index.html")), total)
}
