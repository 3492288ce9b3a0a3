package events

import (
	"context"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// ItemEvents publishes the HTTP layer's inventory.Events with a Publisher:
// it is the httpapi.Publisher the API's handlers are given.
type ItemEvents struct {
	P *Publisher
}

// Publish implements httpapi.Publisher.
func (a ItemEvents) Publish(ctx context.Context, e inventory.Event) error {
	var item any
	if e.Item != nil { // a nil *Item would encode as "item":null
		item = e.Item
	}
	_, err := a.P.Publish(ctx, string(e.Type), e.ID.String(), item)
	return err
}
