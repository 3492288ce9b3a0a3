package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"math"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/services/api/internal/health"
)

// health is liveness: the process answers. No I/O.
func (s *server) health(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// ready is readiness: 200 while PostgreSQL answers (status "degraded" when
// only Redis is down), 503 when a required dependency is down (PostgreSQL,
// or its schema older than the api's migrations) or the instance drains
// before shutdown.
func (s *server) ready(c echo.Context) error {
	rep := s.Health.Check(c.Request().Context())
	code := http.StatusOK
	if !rep.Ready() {
		code = http.StatusServiceUnavailable
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(code, rep)
}

// statusBody is the body of GET /api/status.
type statusBody struct {
	Status        string                            `json:"status"`
	Version       string                            `json:"version"`
	Commit        string                            `json:"commit"`
	InstanceID    string                            `json:"instance_id"`
	StartedAt     time.Time                         `json:"started_at"`
	UptimeSeconds float64                           `json:"uptime_seconds"`
	Dependencies  map[string]health.DependencyState `json:"dependencies"`
	Replicas      []Replica                         `json:"replicas"`
}

// status describes this instance, its dependencies and the live replicas.
// It always answers 200: it reports, it does not gate traffic.
func (s *server) status(c echo.Context) error {
	ctx := c.Request().Context()
	rep := s.Health.Check(ctx)
	replicas, err := s.Replicas.Replicas(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "list replicas failed", "err", err)
	}
	if replicas == nil {
		replicas = []Replica{}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, statusBody{
		Status:        rep.Status,
		Version:       buildinfo.Version,
		Commit:        buildinfo.Commit,
		InstanceID:    s.InstanceID,
		StartedAt:     s.StartedAt.UTC(),
		UptimeSeconds: math.Round(time.Since(s.StartedAt).Seconds()*10) / 10,
		Dependencies:  rep.Dependencies,
		Replicas:      replicas,
	})
}

// metricsAuth asks for MetricsToken as a bearer token on /metrics, when
// one is configured; the comparison takes the same time whatever the token.
func (s *server) metricsAuth(next echo.HandlerFunc) echo.HandlerFunc {
	if s.MetricsToken.IsZero() {
		return next
	}
	want := sha256.Sum256([]byte("Bearer " + s.MetricsToken.Reveal()))
	return func(c echo.Context) error {
		got := sha256.Sum256([]byte(c.Request().Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			p := newProblem(http.StatusUnauthorized, "unauthorized", "/metrics needs its bearer token (METRICS_TOKEN)")
			p.header = http.Header{"WWW-Authenticate": {`Bearer realm="metrics"`}}
			return p
		}
		return next(c)
	}
}
