package composeimport

import (
	"errors"
	"fmt"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// Change is one service's line of an import: what is (or would be) done.
type Change struct {
	Service string `json:"service"`
	Image   string `json:"image,omitempty"`
	Name    string `json:"name,omitempty"`
	// Action: created, updated, unchanged, or skipped (no image).
	Action string `json:"action"`
	ItemID string `json:"item_id,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Plan turns a project into the items to create or update, named
// <project>-<service> and labelled project:<p> and service:<s>, and the
// changes list they belong to: Items[i] is Changes[Index[i]]. Services
// without an image are skipped with a reason. An invalid item is a
// *inventory.ValidationError naming the service.
type Plan struct {
	Items   []inventory.Item
	Index   []int
	Changes []Change
}

// MakePlan plans p's import.
func MakePlan(p Project) (Plan, error) {
	plan := Plan{Changes: []Change{}}
	var verr inventory.ValidationError
	for _, svc := range p.Services {
		ch := Change{Service: svc.Name, Image: svc.Image}
		if svc.Image == "" {
			ch.Action, ch.Reason = "skipped", "the service has build: and no image: there is no image to inventory"
			plan.Changes = append(plan.Changes, ch)
			continue
		}
		in := inventory.Input{
			Name:        p.Name + "-" + svc.Name,
			Image:       svc.Image,
			Description: fmt.Sprintf("service %s of compose project %s", svc.Name, p.Name),
			Labels:      []string{"project:" + p.Name, "service:" + svc.Name},
		}
		it, err := in.Normalize()
		var ve *inventory.ValidationError
		if errors.As(err, &ve) {
			for _, e := range ve.Errors {
				verr.Errors = append(verr.Errors, inventory.FieldError{Field: "services." + svc.Name + "." + e.Field, Message: e.Message})
			}
			continue
		}
		if err != nil {
			return Plan{}, err
		}
		ch.Name = it.Name
		plan.Index = append(plan.Index, len(plan.Changes))
		plan.Changes = append(plan.Changes, ch)
		plan.Items = append(plan.Items, it)
	}
	if len(verr.Errors) > 0 {
		return Plan{}, &verr
	}
	return plan, nil
}
