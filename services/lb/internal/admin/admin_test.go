package admin

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
	"github.com/docker-examples/stack/services/lb/internal/config"
	"github.com/docker-examples/stack/services/lb/internal/metrics"
)

func TestStatusAndMetrics(t *testing.T) {
	now := time.Now()
	pool := balancer.NewPool("api", config.Policy{Kind: config.LeastRequests}, 10, 0)
	pool.Update([]netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:8000"), netip.MustParseAddrPort("10.0.0.2:8000")}, now)
	pool.Backends()[1].SetDraining(true, now)
	pool.Backends()[0].Acquire()
	st := State{Instance: "lb-1", Pools: []*balancer.Pool{pool}, Policies: map[string]string{"api": "least_requests"},
		InFlight: func() int64 { return 1 }, Streams: func() int { return 0 }}
	m := metrics.New()
	m.Register(NewCollector(st))
	h := Handler(st, m.Registry)

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/status", nil))
	var got Status
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := Status{Instance: "lb-1", InFlight: 1, Pools: []PoolStatus{{Name: "api", Policy: "least_requests", Available: 1, Backends: []BackendStatus{
		{Addr: "10.0.0.1:8000", ID: pool.Backends()[0].ID, State: "up", InFlight: 1, Requests: 1},
		{Addr: "10.0.0.2:8000", ID: pool.Backends()[1].ID, State: "draining"},
	}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("/status (-want +got):\n%s", diff)
	}

	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, line := range []string{
		`lb_backend_in_flight{backend="10.0.0.1:8000",pool="api"} 1`,
		`lb_backend_available{backend="10.0.0.2:8000",pool="api",state="draining"} 0`,
		`lb_pool_backends{pool="api"} 2`,
	} {
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
