package site

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/metriclabel"
	"github.com/docker-examples/stack/platform/statuswriter"
)

type metrics struct {
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	proxyErrors prometheus.Counter
	streams     prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "frontend_http_requests_total",
			Help: "HTTP requests served, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "frontend_http_request_duration_seconds",
			Help:    "Time to serve a request, by route (event streams excluded).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		proxyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "frontend_api_proxy_errors_total",
			Help: "Forwarded requests that got no answer from the API.",
		}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "frontend_event_streams_open",
			Help: "Event streams currently forwarded to browsers.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "frontend_build_info",
		Help:        "Always 1; labels name the running build.",
		ConstLabels: prometheus.Labels{"version": buildinfo.Version, "commit": buildinfo.Commit, "goversion": buildinfo.GoVersion()},
	})
	build.Set(1)
	reg.MustRegister(m.requests, m.duration, m.proxyErrors, m.streams, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// instrument counts and times the requests of one route.
func (s *Site) instrument(route string, next http.Handler) http.Handler {
	observe := s.metrics.duration.WithLabelValues(route)
	get200 := s.metrics.requests.WithLabelValues(route, http.MethodGet, "200")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := statuswriter.New(w)
		defer func() {
			code := rec.Status
			if code == 0 {
				code = http.StatusOK
			}
			if code == http.StatusOK && r.Method == http.MethodGet {
				get200.Inc()
			} else {
				s.metrics.requests.WithLabelValues(route, metriclabel.Method(r.Method), strconv.Itoa(code)).Inc()
			}
			if route != "api_events" {
				observe.Observe(time.Since(start).Seconds())
			}
		}()
		next.ServeHTTP(rec, r)
	})
}
