// Command vulngate reads govulncheck's JSON stream (`govulncheck -format
// json`) on standard input and decides whether `make lint` passes: it
// fails on every finding the code reaches (govulncheck found a call path
// to the vulnerable symbol) unless that advisory has no fixed version and
// is named in -accept, the list of advisories the README triages. A
// reachable advisory with a fix always fails, accepted or not: the fix is
// to upgrade. Findings in imported packages or required modules the code
// never calls are printed as notes and do not fail.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	accept := flag.String("accept", "", "comma-separated advisory ids (GO-YYYY-NNNN) without a fix that the README triages")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, splitList(*accept)); err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(1)
	}
}

// frame is one step of a finding's trace; the first frame is the
// vulnerable symbol, and a finding reaches code only when it has a function.
type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
}

type finding struct {
	OSV          string  `json:"osv"`
	FixedVersion string  `json:"fixed_version"`
	Trace        []frame `json:"trace"`
}

type message struct {
	Finding *finding `json:"finding"`
}

// verdict is what the gate concluded about one advisory.
type verdict struct {
	id, module, fixed string
	reachable         bool
}

// errFailed reports that at least one reachable finding was not accepted.
var errFailed = errors.New("reachable vulnerabilities: upgrade the module or Go release named above")

func run(in io.Reader, out io.Writer, accepted map[string]bool) error {
	byID := map[string]*verdict{}
	dec := json.NewDecoder(in)
	for {
		var m message
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading govulncheck output: %w", err)
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		v := byID[f.OSV]
		if v == nil {
			v = &verdict{id: f.OSV, module: f.Trace[0].Module}
			byID[f.OSV] = v
		}
		if f.FixedVersion != "" {
			v.fixed = f.FixedVersion
		}
		if f.Trace[0].Function != "" {
			v.reachable = true
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	failed := false
	for _, id := range ids {
		v := byID[id]
		fix := "no fix"
		if v.fixed != "" {
			fix = "fixed in " + v.fixed
		}
		switch {
		case !v.reachable:
			fmt.Fprintf(out, "note: %s in %s (%s) is not reached by our code\n", id, v.module, fix)
		case v.fixed == "" && accepted[id]:
			fmt.Fprintf(out, "accepted: %s in %s (%s), triaged in the README\n", id, v.module, fix)
		default:
			failed = true
			why := "not triaged"
			if v.fixed != "" {
				why = "upgrade " + v.module + " to " + v.fixed
			}
			fmt.Fprintf(out, "FAIL: %s in %s is reached by our code (%s): %s\n", id, v.module, fix, why)
		}
	}
	if failed {
		return errFailed
	}
	fmt.Fprintf(out, "vulngate: no reachable vulnerability with a fix (%d advisories seen)\n", len(ids))
	return nil
}

func splitList(s string) map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			m[p] = true
		}
	}
	return m
}
