package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// refreshQueued is the body of a 202 from POST /api/inventory/{id}/refresh.
type refreshQueued struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	QueuedAt time.Time `json:"queued_at"`
}

// refreshItem queues a check of the item's registry, GitHub and links; a
// worker on some replica runs it, and the results arrive as an
// item.updated event and in the item.
func (s *server) refreshItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if s.Refresher == nil {
		return newProblem(http.StatusServiceUnavailable, "unavailable", "enrichment is not available")
	}
	at, err := s.Refresher.EnqueueRefresh(c.Request().Context(), id)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", "/api/inventory/"+id.String())
	return c.JSON(http.StatusAccepted, refreshQueued{ID: id.String(), Status: "queued", QueuedAt: at.UTC()})
}
