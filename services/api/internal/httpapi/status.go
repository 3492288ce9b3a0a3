package httpapi

import (
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
// only Redis is down), 503 when PostgreSQL is down or the instance drains
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
