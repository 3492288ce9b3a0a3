package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/docker-examples/stack/services/api/internal/httpapi"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/store"
)

// stuckStore never answers a read until the request's context ends, as a
// PostgreSQL behind a frozen network would; then it answers the way
// store's own translation of a context error does.
type stuckStore struct{ *memStore }

func (s stuckStore) GetItem(ctx context.Context, _ uuid.UUID) (inventory.Item, error) {
	<-ctx.Done()
	return inventory.Item{}, fmt.Errorf("store: get: %w: %w", store.ErrUnavailable, ctx.Err())
}

// A request stuck in the store ends at REQUEST_TIMEOUT with a 503 timeout
// problem and Retry-After, instead of holding its connection for as long
// as the peer stays frozen.
func TestRequestDeadlineEndsAStuckRequest(t *testing.T) {
	e := newEnv(t, func(d *httpapi.Deps) {
		d.Items = stuckStore{newMemStore()}
		d.RequestTimeout = 50 * time.Millisecond
	})
	done := make(chan struct{})
	var code int
	var body, retry string
	go func() {
		defer close(done)
		rec := e.do(t, req{method: http.MethodGet, path: "/api/inventory/" + uuid.NewString()})
		code, body, retry = rec.Code, rec.Body.String(), rec.Header().Get("Retry-After")
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the request never ended: no deadline")
	}
	if code != http.StatusServiceUnavailable || retry == "" || !strings.Contains(body, "problems/timeout") {
		t.Errorf("stuck read = %d Retry-After %q %s; want 503 timeout with Retry-After", code, retry, body)
	}
}
