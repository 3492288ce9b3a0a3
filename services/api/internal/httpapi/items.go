package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// itemList is the body of GET /api/inventory.
type itemList struct {
	Items      []inventory.Item `json:"items"`
	NextCursor string           `json:"next_cursor,omitempty"`
}

// JSONReader is an ItemStore that can answer reads with their JSON as
// the API sends it (*cache.Items): a cache hit is then written without
// being decoded and encoded again. ListItemsJSON returns the body of GET
// /api/inventory; GetItemJSON an item's JSON and its version. The bytes
// are read only, never modified (a hit's may be an immutable string's).
type JSONReader interface {
	ListItemsJSON(ctx context.Context, q inventory.ListQuery) ([]byte, error)
	GetItemJSON(ctx context.Context, id uuid.UUID) ([]byte, int64, error)
}

// writeJSON answers with a body already encoded, as c.JSON would write
// it (echo's encoder ends the body with a newline).
func writeJSON(c echo.Context, code int, b []byte) error {
	res := c.Response()
	res.Header()[echo.HeaderContentType] = jsonContentType
	res.WriteHeader(code)
	if _, err := res.Write(b); err != nil {
		return err
	}
	_, err := res.Write(newline)
	return err
}

var newline = []byte("\n")

// jsonContentType is the Content-Type of writeJSON's answers, shared like
// securityHeaderValues: net/http only reads it, and Add copies a slice
// that is full.
var jsonContentType = []string{echo.MIMEApplicationJSON}

// headerETag is "ETag" in net/http's canonical form: setETag assigns it
// without Header.Set's canonicalising copy of the name per request.
const headerETag = "Etag"

// setETag sets the response's ETag header.
func setETag(c echo.Context, tag string) { c.Response().Header()[headerETag] = []string{tag} }

func (s *server) listItems(c echo.Context) error {
	cursors, err := s.Cursors(c.Request().Context())
	if err != nil {
		return err
	}
	// Nothing below, the cache's page keys included, sees a cursor that
	// is not one this API signed for these filters.
	q, err := inventory.ParseListQuery(c.QueryParams(), cursors)
	if err != nil {
		return err
	}
	if s.json != nil {
		b, err := s.json.ListItemsJSON(c.Request().Context(), q)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, b)
	}
	page, err := s.Items.ListItems(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if page.Items == nil {
		page.Items = []inventory.Item{}
	}
	return c.JSON(http.StatusOK, itemList{Items: page.Items, NextCursor: page.NextCursor})
}

func (s *server) getItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	if s.json != nil {
		b, version, err := s.json.GetItemJSON(c.Request().Context(), id)
		if err != nil {
			return err
		}
		tag := bodyETag(version, b)
		setETag(c, tag)
		if h := c.Request().Header.Get("If-None-Match"); h != "" && matchesIfNoneMatch(h, tag) {
			return c.NoContent(http.StatusNotModified)
		}
		return writeJSON(c, http.StatusOK, b)
	}
	it, err := s.Items.GetItem(c.Request().Context(), id)
	if err != nil {
		return err
	}
	tag := etag(it)
	setETag(c, tag)
	if h := c.Request().Header.Get("If-None-Match"); h != "" && matchesIfNoneMatch(h, tag) {
		return c.NoContent(http.StatusNotModified)
	}
	return c.JSON(http.StatusOK, it)
}

func (s *server) createItem(c echo.Context) error {
	body, err := readJSONBody(c, mediaJSON)
	if err != nil {
		return err
	}
	var in inventory.Input
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	it, err := in.Normalize()
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	created, err := s.Items.CreateItem(ctx, it)
	if err != nil {
		return err
	}
	s.publish(c, inventory.Event{Type: inventory.ItemCreated, ID: created.ID, Item: &created})
	c.Response().Header().Set("Location", "/api/inventory/"+created.ID.String())
	setETag(c, etag(created))
	return c.JSON(http.StatusCreated, created)
}

// replaceItem is PUT: the body is a whole item, as for create.
func (s *server) replaceItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	body, err := readJSONBody(c, mediaJSON)
	if err != nil {
		return err
	}
	var in inventory.Input
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	next, err := in.Normalize()
	if err != nil {
		return err
	}
	ifMatch := c.Request().Header.Get("If-Match")
	updated, err := s.Items.UpdateItem(c.Request().Context(), id, func(cur inventory.Item) (inventory.Item, error) {
		if ifMatch != "" && !matchesIfMatch(ifMatch, etag(cur)) {
			return inventory.Item{}, errPreconditionFailed
		}
		return next, nil
	})
	if err != nil {
		return err
	}
	return s.written(c, updated)
}

// patchItem is PATCH with an RFC 7396 JSON merge patch over the writable
// fields; the result is validated as a whole item.
func (s *server) patchItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	body, err := readJSONBody(c, mediaMergePatch, mediaJSON)
	if err != nil {
		return err
	}
	// Check the patch on its own first, so that its mistakes are reported
	// against the patch and before any database work.
	var probe struct {
		Name        *json.RawMessage `json:"name"`
		Image       *json.RawMessage `json:"image"`
		Description *json.RawMessage `json:"description"`
		Labels      *json.RawMessage `json:"labels"`
		SourceURL   *json.RawMessage `json:"source_url"`
		DocsURLs    *json.RawMessage `json:"docs_urls"`
		TagInclude  *json.RawMessage `json:"tag_include"`
		TagExclude  *json.RawMessage `json:"tag_exclude"`
	}
	if err := decodeStrict(body, &probe); err != nil {
		return err
	}
	var patch map[string]any
	if err := json.Unmarshal(body, &patch); err != nil {
		return jsonProblem(err)
	}
	ifMatch := c.Request().Header.Get("If-Match")
	updated, err := s.Items.UpdateItem(c.Request().Context(), id, func(cur inventory.Item) (inventory.Item, error) {
		if ifMatch != "" && !matchesIfMatch(ifMatch, etag(cur)) {
			return inventory.Item{}, errPreconditionFailed
		}
		var base map[string]any
		b, _ := json.Marshal(cur.Input())
		_ = json.Unmarshal(b, &base)
		merged, err := json.Marshal(mergePatch(base, patch))
		if err != nil {
			return inventory.Item{}, err
		}
		var in inventory.Input
		if err := decodeStrict(merged, &in); err != nil {
			return inventory.Item{}, err
		}
		return in.Normalize()
	})
	if err != nil {
		return err
	}
	return s.written(c, updated)
}

func (s *server) deleteItem(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ifMatch := c.Request().Header.Get("If-Match")
	_, err = s.Items.DeleteItem(c.Request().Context(), id, func(cur inventory.Item) error {
		if ifMatch != "" && !matchesIfMatch(ifMatch, etag(cur)) {
			return errPreconditionFailed
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.publish(c, inventory.Event{Type: inventory.ItemDeleted, ID: id})
	return c.NoContent(http.StatusNoContent)
}

// written answers a successful PUT or PATCH and publishes the change.
func (s *server) written(c echo.Context, it inventory.Item) error {
	s.publish(c, inventory.Event{Type: inventory.ItemUpdated, ID: it.ID, Item: &it})
	setETag(c, etag(it))
	return c.JSON(http.StatusOK, it)
}

// publish tells the Publisher about a committed change; failures are
// logged, never returned: the write has happened. The context outlives a
// client that hangs up, since the change is committed either way.
func (s *server) publish(c echo.Context, e inventory.Event) {
	ctx := context.WithoutCancel(c.Request().Context())
	if err := s.Events.Publish(ctx, e); err != nil {
		s.log.WarnContext(ctx, "publish event failed", "event", string(e.Type), "id", e.ID.String(), "err", err)
	}
}

func pathID(c echo.Context) (uuid.UUID, error) {
	id, err := inventory.ParseID(c.Param("id"))
	if err != nil {
		return uuid.UUID{}, fieldProblem("id", "must be a UUID such as 0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a")
	}
	return id, nil
}
