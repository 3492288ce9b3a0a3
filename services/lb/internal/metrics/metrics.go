// Package metrics defines the lb's Prometheus metrics. Per-backend series
// are resolved once, when a backend joins (Backend), so recording a
// request touches only atomics and allocates nothing; Forget deletes a
// backend's series when it leaves, so container churn does not grow the
// registry forever.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics is the lb's registry and metric families. Safe for concurrent use.
type Metrics struct {
	Registry *prometheus.Registry

	requests   *prometheus.CounterVec
	errors     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	ejections  *prometheus.CounterVec
	discovery  *prometheus.CounterVec
	rejections *prometheus.CounterVec
	budget     *prometheus.CounterVec
	routed     *prometheus.CounterVec
}

// New registers every metric family (and the Go and process collectors)
// in a fresh registry.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_backend_requests_total", Help: "Responses received from a backend, by status class.",
		}, []string{"pool", "backend", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_backend_errors_total", Help: "Attempts that failed without a usable response (connect error, reset, timeout) or got a 5xx.",
		}, []string{"pool", "backend", "kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lb_backend_response_seconds", Help: "Time from sending a request to a backend to receiving its response header.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"pool", "backend"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_backend_retries_total", Help: "Attempts on a backend that were retries of a request another backend failed.",
		}, []string{"pool", "backend"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_backend_ejections_total", Help: "Passive ejections of a backend after consecutive failures.",
		}, []string{"pool", "backend"}),
		discovery: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_discovery_changes_total", Help: "Backends added to or removed from a pool by DNS discovery.",
		}, []string{"pool", "change"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_rejected_total", Help: "Requests answered 503 by the lb itself, by reason.",
		}, []string{"reason"}),
		budget: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_retry_budget_exhausted_total", Help: "Retries not made because the pool's retry budget was spent.",
		}, []string{"pool"}),
		routed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lb_requests_total", Help: "Requests answered by the lb, by pool and status class.",
		}, []string{"pool", "code"}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.retries, m.ejections, m.discovery,
		m.rejections, m.budget, m.routed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a collector (e.g. the pool state collector).
func (m *Metrics) Register(c prometheus.Collector) { m.Registry.MustRegister(c) }

// Backend holds one backend's pre-resolved series.
type Backend struct {
	Codes      [6]prometheus.Counter // index: status/100 (0 unused, 1xx..5xx)
	ConnErrors prometheus.Counter
	ReadErrors prometheus.Counter
	Status5xx  prometheus.Counter
	// Abandoned counts attempts given up because the backend was marked
	// down or ejected before it answered (each retried elsewhere).
	Abandoned   prometheus.Counter
	Latency     prometheus.Observer
	Retries     prometheus.Counter
	Ejections   prometheus.Counter
	pool, laddr string
}

var codeLabels = [6]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Backend resolves the series of backend addr in pool.
func (m *Metrics) Backend(pool, addr string) *Backend {
	b := &Backend{pool: pool, laddr: addr}
	for i := 1; i < len(codeLabels); i++ {
		b.Codes[i] = m.requests.WithLabelValues(pool, addr, codeLabels[i])
	}
	b.ConnErrors = m.errors.WithLabelValues(pool, addr, "connect")
	b.ReadErrors = m.errors.WithLabelValues(pool, addr, "response")
	b.Status5xx = m.errors.WithLabelValues(pool, addr, "status_5xx")
	b.Abandoned = m.errors.WithLabelValues(pool, addr, "abandoned")
	b.Latency = m.latency.WithLabelValues(pool, addr)
	b.Retries = m.retries.WithLabelValues(pool, addr)
	b.Ejections = m.ejections.WithLabelValues(pool, addr)
	return b
}

// Code counts a response with status code.
func (b *Backend) Code(status int) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 5
	}
	b.Codes[i].Inc()
}

// Forget deletes the series of a backend that left its pool.
func (m *Metrics) Forget(b *Backend) {
	l := prometheus.Labels{"pool": b.pool, "backend": b.laddr}
	m.requests.DeletePartialMatch(l)
	m.errors.DeletePartialMatch(l)
	m.latency.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
	m.ejections.DeletePartialMatch(l)
}

// Pool holds a pool's pre-resolved series.
type Pool struct {
	Added, Removed  prometheus.Counter
	BudgetExhausted prometheus.Counter
	Routed          [6]prometheus.Counter
}

// Pool resolves the series of pool name.
func (m *Metrics) Pool(name string) *Pool {
	p := &Pool{
		Added:           m.discovery.WithLabelValues(name, "added"),
		Removed:         m.discovery.WithLabelValues(name, "removed"),
		BudgetExhausted: m.budget.WithLabelValues(name),
	}
	for i := 1; i < len(codeLabels); i++ {
		p.Routed[i] = m.routed.WithLabelValues(name, codeLabels[i])
	}
	return p
}

// Answered counts a response the lb sent for this pool.
func (p *Pool) Answered(status int) {
	i := status / 100
	if i < 1 || i > 5 {
		i = 5
	}
	p.Routed[i].Inc()
}

// Rejection is a pre-resolved counter of one rejection reason.
func (m *Metrics) Rejection(reason string) prometheus.Counter {
	return m.rejections.WithLabelValues(reason)
}
