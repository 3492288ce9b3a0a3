// Package admin is the lb's admin listener: Prometheus metrics, a JSON
// /status of every pool, and pprof. It must never be published outside
// the deployment's network.
package admin

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docker-examples/stack/services/lb/internal/balancer"
)

// State is what the admin handler reads about the running lb.
type State struct {
	Instance string
	Pools    []*balancer.Pool
	Policies map[string]string
	InFlight func() int64
	Streams  func() int
}

// Handler serves /metrics, /status and /debug/pprof/.
func Handler(s State, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Status(time.Now()))
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// Status is the /status document.
type Status struct {
	Instance string       `json:"instance"`
	InFlight int64        `json:"in_flight"`
	Streams  int          `json:"streams"`
	Pools    []PoolStatus `json:"pools"`
}

// PoolStatus describes one pool.
type PoolStatus struct {
	Name      string          `json:"name"`
	Policy    string          `json:"policy"`
	Available int             `json:"available"`
	Backends  []BackendStatus `json:"backends"`
}

// BackendStatus describes one backend.
type BackendStatus struct {
	Addr         string     `json:"addr"`
	ID           string     `json:"id"`
	State        string     `json:"state"` // up, down, draining, ejected
	InFlight     int64      `json:"in_flight"`
	Requests     uint64     `json:"requests"`
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
}

// Status reads the state at now.
func (s State) Status(now time.Time) Status {
	st := Status{Instance: s.Instance, Pools: []PoolStatus{}}
	if s.InFlight != nil {
		st.InFlight = s.InFlight()
	}
	if s.Streams != nil {
		st.Streams = s.Streams()
	}
	for _, p := range s.Pools {
		ps := PoolStatus{Name: p.Name, Policy: s.Policies[p.Name], Backends: []BackendStatus{}}
		for _, b := range p.Backends() {
			bs := BackendStatus{Addr: b.HostPort, ID: b.ID, State: StateOf(b, now), InFlight: b.InFlight(), Requests: b.Requests()}
			if t := b.EjectedUntil(); t.After(now) {
				bs.EjectedUntil = &t
			}
			if bs.State == "up" {
				ps.Available++
			}
			ps.Backends = append(ps.Backends, bs)
		}
		st.Pools = append(st.Pools, ps)
	}
	return st
}

// StateOf names a backend's state at now.
func StateOf(b *balancer.Backend, now time.Time) string {
	switch {
	case b.Down():
		return "down"
	case b.Draining():
		return "draining"
	case b.EjectedUntil().After(now):
		return "ejected"
	default:
		return "up"
	}
}

// Collector exports pool state as gauges at scrape time, so the request
// path pays nothing for them.
type Collector struct {
	State    State
	inflight *prometheus.Desc
	up       *prometheus.Desc
	backends *prometheus.Desc
	total    *prometheus.Desc
	streams  *prometheus.Desc
}

// NewCollector returns a collector of s.
func NewCollector(s State) *Collector {
	return &Collector{
		State:    s,
		inflight: prometheus.NewDesc("lb_backend_in_flight", "Requests a backend is serving now.", []string{"pool", "backend"}, nil),
		up:       prometheus.NewDesc("lb_backend_available", "1 when the backend takes new requests (up, not draining, not ejected).", []string{"pool", "backend", "state"}, nil),
		backends: prometheus.NewDesc("lb_pool_backends", "Backends discovered in a pool.", []string{"pool"}, nil),
		total:    prometheus.NewDesc("lb_in_flight", "Requests the lb is serving now.", nil, nil),
		streams:  prometheus.NewDesc("lb_streams", "Open streams and WebSocket tunnels.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inflight
	ch <- c.up
	ch <- c.backends
	ch <- c.total
	ch <- c.streams
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	st := c.State.Status(now)
	ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(c.streams, prometheus.GaugeValue, float64(st.Streams))
	for _, p := range st.Pools {
		ch <- prometheus.MustNewConstMetric(c.backends, prometheus.GaugeValue, float64(len(p.Backends)), p.Name)
		for _, b := range p.Backends {
			ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(b.InFlight), p.Name, b.Addr)
			v := 0.0
			if b.State == "up" {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v, p.Name, b.Addr, b.State)
		}
	}
}
