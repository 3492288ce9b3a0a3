package keys

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Usage is the help of the `api keys` subcommands.
const Usage = `usage:
  api keys create NAME   create a key; it is printed once, store it now
  api keys list          list keys (never their secrets)
  api keys revoke ID     revoke a key at once, on every replica`

// Run runs `api keys ARGS...` against s, writing to stdout. The new key of
// create is alone on the first line, so scripts can take it with head -1.
func Run(ctx context.Context, args []string, s *Store, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(Usage)
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "create":
		if len(rest) != 1 {
			return fmt.Errorf("api keys create takes one NAME\n%s", Usage)
		}
		k, secret, err := s.Create(ctx, rest[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n# API key %q created with id %s. This is the only time it is shown: store it now.\n",
			secret, k.Name, k.ID)
		return err
	case "list":
		if len(rest) != 0 {
			return fmt.Errorf("api keys list takes no arguments\n%s", Usage)
		}
		ks, err := s.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tCREATED\tLAST USED\tSTATUS")
		for _, k := range ks {
			status := "active"
			if k.RevokedAt != nil {
				status = "revoked " + k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix,
				k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), status)
		}
		return tw.Flush()
	case "revoke":
		if len(rest) != 1 {
			return fmt.Errorf("api keys revoke takes one ID\n%s", Usage)
		}
		k, err := s.Revoke(ctx, rest[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "API key %q (%s) is revoked.\n", k.Name, k.ID)
		return err
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, Usage)
	}
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
