package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRecordingDoesNotAllocate(t *testing.T) {
	m := New()
	b := m.Backend("api", "10.0.0.1:8000")
	p := m.Pool("api")
	allocs := testing.AllocsPerRun(1000, func() {
		b.Code(200)
		b.Latency.Observe(0.003)
		b.Retries.Inc()
		b.ConnErrors.Inc()
		p.Answered(503)
	})
	if allocs != 0 {
		t.Errorf("recording a request allocates %v times, want 0", allocs)
	}
}

func TestForgetDropsABackendsSeries(t *testing.T) {
	m := New()
	b := m.Backend("api", "10.0.0.1:8000")
	keep := m.Backend("api", "10.0.0.2:8000")
	b.Code(200)
	keep.Code(200)
	m.Forget(b)
	want := `
# HELP lb_backend_requests_total Responses received from a backend, by status class.
# TYPE lb_backend_requests_total counter
lb_backend_requests_total{backend="10.0.0.2:8000",code="1xx",pool="api"} 0
lb_backend_requests_total{backend="10.0.0.2:8000",code="2xx",pool="api"} 1
lb_backend_requests_total{backend="10.0.0.2:8000",code="3xx",pool="api"} 0
lb_backend_requests_total{backend="10.0.0.2:8000",code="4xx",pool="api"} 0
lb_backend_requests_total{backend="10.0.0.2:8000",code="5xx",pool="api"} 0
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "lb_backend_requests_total"); err != nil {
		t.Error(err)
	}
}
