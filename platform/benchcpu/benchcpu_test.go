package benchcpu_test

import (
	"testing"

	"github.com/docker-examples/stack/platform/benchcpu"
)

// TestUsedCountsWork: a loop that keeps the CPU busy shows in Used.
func TestUsedCountsWork(t *testing.T) {
	before := benchcpu.Used()
	x := 0
	for i := range 50_000_000 {
		x ^= i * i
	}
	_ = x
	if after := benchcpu.Used(); after <= before {
		t.Errorf("Used went from %v to %v over a busy loop", before, after)
	}
}
