// Package metrics holds the API's Prometheus metrics: HTTP requests by
// route template, method and status, their latency, SQL statements sent to
// PostgreSQL (through a pgx tracer), the pgx pool's statistics, the
// enrichment jobs and the external APIs they call, and build information. Each Metrics has its own registry, so tests never share
// global state.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/metriclabel"
)

// Metrics is safe for concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	queries  prometheus.Counter
	jobs     *prometheus.CounterVec
	// observers holds the series of each (route, method, status) seen,
	// requestKey to *requestSeries: a lookup of one struct instead of two
	// label lookups (each validates, hashes and locks) per request.
	observers sync.Map
}

type requestKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// New returns Metrics registered on a fresh registry together with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "api_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route template and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		queries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "api_db_queries_total",
			Help: "SQL statements sent to PostgreSQL, BEGIN and COMMIT included.",
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "api_enrich_jobs_total",
			Help: "Enrichment jobs finished on this replica, by result: ok, error (a source failed; stored, retried with backoff), retry (nothing stored; given back), skipped (the item changed or went).",
		}, []string{"result"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "api_build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "commit", "goversion"})
	build.WithLabelValues(buildinfo.Version, buildinfo.Commit, buildinfo.GoVersion()).Set(1)
	m.reg.MustRegister(m.requests, m.latency, m.queries, m.jobs, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registerer lets other packages (cache, rate limiter) add their metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// ObserveRequest records one answered request. route is the route
// template (/api/inventory/:id), never the raw path, so cardinality stays
// bounded; unmatched requests use "unmatched". A method the api does not
// serve counts as "other" (metriclabel.Method).
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	method = metriclabel.Method(method)
	k := requestKey{route, method, status}
	v, ok := m.observers.Load(k)
	if !ok {
		v, _ = m.observers.LoadOrStore(k, &requestSeries{
			count:   m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(route, method),
		})
	}
	s := v.(*requestSeries)
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// ObserveEnrichJob counts one finished enrichment job by its result.
func (m *Metrics) ObserveEnrichJob(result string) { m.jobs.WithLabelValues(result).Inc() }

// RegisterEnrichBacklog exports api_enrich_jobs_pending, the jobs due and
// not claimed, which count returns at every scrape (within two seconds;
// a failed count leaves the gauge out of that scrape). Every replica
// reports the same backlog: query it with max(), not sum().
func (m *Metrics) RegisterEnrichBacklog(count func(context.Context) (int, error)) {
	m.reg.MustRegister(backlogCollector{count})
}

var descBacklog = prometheus.NewDesc("api_enrich_jobs_pending",
	"Enrichment jobs due and not claimed by any replica (the same on every replica).", nil, nil)

type backlogCollector struct {
	count func(context.Context) (int, error)
}

func (backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descBacklog }

func (c backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := c.count(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(n))
	}
}

// External is an API outside the stack the enrichment calls (the
// registry client, the GitHub client).
type External interface {
	Requests() int64
	// QuotaRemaining is what the API last said is left of its quota;
	// ok is false before it said.
	QuotaRemaining() (n int64, ok bool)
}

// RegisterExternal exports api_external_requests_total and
// api_external_quota_remaining (once the API has reported it) with the
// label service="service".
func (m *Metrics) RegisterExternal(service string, e External) {
	labels := prometheus.Labels{"service": service}
	m.reg.MustRegister(externalCollector{e: e,
		requests: prometheus.NewDesc("api_external_requests_total",
			"Requests sent to an external API by the enrichment, by service.", nil, labels),
		quota: prometheus.NewDesc("api_external_quota_remaining",
			"Requests an external API said are left of its quota (GitHub's X-RateLimit-Remaining, a registry's RateLimit-Remaining), by service.", nil, labels),
	})
}

type externalCollector struct {
	e               External
	requests, quota *prometheus.Desc
}

func (c externalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.requests; ch <- c.quota }

func (c externalCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(c.e.Requests()))
	if n, ok := c.e.QuotaRemaining(); ok {
		ch <- prometheus.MustNewConstMetric(c.quota, prometheus.GaugeValue, float64(n))
	}
}

// QueryTracer returns a pgx tracer that counts every statement. Set it as
// pgx.ConnConfig.Tracer.
func (m *Metrics) QueryTracer() pgx.QueryTracer { return queryTracer{m.queries} }

type queryTracer struct{ c prometheus.Counter }

func (t queryTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	t.c.Inc()
	return ctx
}

func (queryTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// RegisterPool exports pool's statistics, read at every scrape.
func (m *Metrics) RegisterPool(pool *pgxpool.Pool) {
	m.reg.MustRegister(poolCollector{pool})
}

var (
	poolDesc = func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("api_pgxpool_"+name, help, nil, nil)
	}
	descAcquired     = poolDesc("acquired_conns", "Connections currently in use.")
	descIdle         = poolDesc("idle_conns", "Connections idle in the pool.")
	descTotal        = poolDesc("total_conns", "Connections open, in use or idle or being made.")
	descMax          = poolDesc("max_conns", "Largest number of connections the pool may open.")
	descAcquires     = poolDesc("acquires_total", "Successful acquisitions of a connection.")
	descAcquireWait  = poolDesc("acquire_duration_seconds_total", "Time spent acquiring connections.")
	descEmptyAcquire = poolDesc("empty_acquires_total", "Acquisitions that had to wait for a connection.")
	descCanceled     = poolDesc("canceled_acquires_total", "Acquisitions canceled by their context.")
	descNewConns     = poolDesc("new_conns_total", "Connections opened.")
)

type poolCollector struct{ pool *pgxpool.Pool }

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descAcquired, descIdle, descTotal, descMax, descAcquires,
		descAcquireWait, descEmptyAcquire, descCanceled, descNewConns} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descAcquired, float64(s.AcquiredConns()))
	gauge(descIdle, float64(s.IdleConns()))
	gauge(descTotal, float64(s.TotalConns()))
	gauge(descMax, float64(s.MaxConns()))
	counter(descAcquires, float64(s.AcquireCount()))
	counter(descAcquireWait, s.AcquireDuration().Seconds())
	counter(descEmptyAcquire, float64(s.EmptyAcquireCount()))
	counter(descCanceled, float64(s.CanceledAcquireCount()))
	counter(descNewConns, float64(s.NewConnsCount()))
}
