package composeimport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/docker-examples/stack/services/api/internal/inventory"
)

// Applier writes a plan's items (store.ApplyImport behind the cache) and
// reports, per item, the action and the item.
type Applier func(ctx context.Context, items []inventory.Item, dryRun bool) (actions []string, out []inventory.Item, err error)

// Usage is the command's synopsis.
const Usage = "api import compose [--dry-run] [--project NAME] [--var KEY=VALUE]... FILE"

// Run is `api import compose …`: it reads FILE, applies it with apply and
// prints one line per service (or, with --json, the API's answer).
func Run(ctx context.Context, args []string, apply Applier, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "compose" {
		return errors.New("usage: " + Usage)
	}
	args = args[1:]
	var (
		dryRun, asJSON bool
		project, file  string
		vars           = map[string]string{}
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--dry-run":
			dryRun = true
		case a == "--json":
			asJSON = true
		case a == "--project" && i+1 < len(args):
			i++
			project = args[i]
		case a == "--var" && i+1 < len(args):
			i++
			k, v, ok := strings.Cut(args[i], "=")
			if !ok || k == "" {
				return fmt.Errorf("--var %q: want KEY=VALUE", args[i])
			}
			vars[k] = v
		case strings.HasPrefix(a, "-"):
			return fmt.Errorf("unknown flag %q; usage: %s", a, Usage)
		case file == "":
			file = a
		default:
			return errors.New("one FILE only; usage: " + Usage)
		}
	}
	if file == "" {
		return errors.New("usage: " + Usage)
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return err
	}
	p, err := Parse(ctx, data, vars, project)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	plan, err := MakePlan(p)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	actions, items, err := apply(ctx, plan.Items, dryRun)
	if err != nil {
		return err
	}
	for i, a := range actions {
		ch := &plan.Changes[plan.Index[i]]
		ch.Action = a
		if !(dryRun && a == "created") {
			ch.ItemID = items[i].ID.String()
		}
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"project": p.Name, "dry_run": dryRun, "changes": plan.Changes})
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tACTION\tITEM\tIMAGE")
	for _, c := range plan.Changes {
		name := c.Name
		if c.Action == "skipped" {
			name = "(" + c.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Service, c.Action, name, c.Image)
	}
	if dryRun {
		fmt.Fprintln(tw, "(dry run: nothing was written)")
	}
	return tw.Flush()
}
