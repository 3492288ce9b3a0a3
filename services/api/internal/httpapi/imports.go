package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/composeimport"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/store"
)

const importComposePath = "/api/import/compose"

// Importer writes an import's items in one transaction (store.ApplyImport
// behind the cache's invalidation).
type Importer interface {
	ApplyImport(ctx context.Context, items []inventory.Item, dryRun bool) ([]store.ImportResult, error)
}

// importRequest is the JSON form of POST /api/import/compose; the plain
// form is the YAML itself.
type importRequest struct {
	Compose   string            `json:"compose"`
	Variables map[string]string `json:"variables"`
	Project   string            `json:"project"`
}

type importResult struct {
	Project string                 `json:"project"`
	DryRun  bool                   `json:"dry_run"`
	Changes []composeimport.Change `json:"changes"`
}

var yamlTypes = []string{"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"}

// importCompose reads a compose file and creates or updates one item per
// service image, named <project>-<service> and labelled project:<p> and
// service:<s>. ?dry_run=true answers with the changes without writing.
func (s *server) importCompose(c echo.Context) error {
	if s.Importer == nil {
		return newProblem(http.StatusServiceUnavailable, "unavailable", "import is not available")
	}
	dryRun := false
	switch v := c.QueryParam("dry_run"); v {
	case "", "false":
	case "true":
		dryRun = true
	default:
		return fieldProblem("dry_run", "must be true or false")
	}
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != mediaJSON && !slices.Contains(yamlTypes, mt) {
		return newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type",
			"send the compose file as application/yaml, or as application/json {\"compose\", \"variables\", \"project\"}")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return errTooLarge
		}
		return fmt.Errorf("read body: %w", err)
	}
	req := importRequest{Compose: string(body), Project: c.QueryParam("project")}
	if mt == mediaJSON {
		req = importRequest{}
		if err := decodeStrict(body, &req); err != nil {
			return err
		}
	}
	if len(req.Project) > 50 {
		return fieldProblem("project", "at most 50 characters")
	}
	p, err := composeimport.Parse(r.Context(), []byte(req.Compose), req.Variables, req.Project)
	var fe *composeimport.Error
	switch {
	case errors.Is(err, composeimport.ErrTooLarge):
		return errTooLarge
	case errors.As(err, &fe):
		prob := newProblem(http.StatusBadRequest, "invalid-compose", "%s", fe.Error())
		prob.fields = []inventory.FieldError{{Field: "compose", Message: fe.Error()}}
		return prob
	case err != nil:
		return err
	}

	plan, err := composeimport.MakePlan(p)
	if err != nil {
		return err
	}
	res := importResult{Project: p.Name, DryRun: dryRun, Changes: plan.Changes}
	items, idx := plan.Items, plan.Index
	out, err := s.Importer.ApplyImport(r.Context(), items, dryRun)
	if err != nil {
		return err
	}
	for i, o := range out {
		ch := &res.Changes[idx[i]]
		ch.Action = o.Action
		if !(dryRun && o.Action == store.ImportCreated) {
			ch.ItemID = o.Item.ID.String()
		}
		if !dryRun && o.Action != store.ImportUnchanged {
			typ := inventory.ItemUpdated
			if o.Action == store.ImportCreated {
				typ = inventory.ItemCreated
			}
			it := o.Item
			s.publish(c, inventory.Event{Type: typ, ID: it.ID, Item: &it})
		}
	}
	return c.JSON(http.StatusOK, res)
}
