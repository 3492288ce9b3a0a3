package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// Shapes as govulncheck v1.9.0 prints them with -format json.
const (
	configMsg = `{"config":{"protocol_version":"v1.0.0","scanner_name":"govulncheck","scan_level":"symbol"}}`
	// The HTTP/2 advisory as go1.26.8 showed it on the lb: reached, fixed.
	stdlibReached  = `{"finding":{"osv":"GO-2026-6617","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http","function":"ServeConn","receiver":"*http2Server"},{"module":"github.com/docker-examples/stack","package":"github.com/docker-examples/stack/services/lb/cmd/lb","function":"run"}]}}`
	stdlibImported = `{"finding":{"osv":"GO-2026-6617","fixed_version":"v1.26.9","trace":[{"module":"stdlib","version":"v1.26.8","package":"net/http"}]}}`
	echoModule     = `{"finding":{"osv":"GO-2026-6872","trace":[{"module":"github.com/labstack/echo/v4","version":"v4.16.5"}]}}`
	echoReached    = `{"finding":{"osv":"GO-2026-6872","trace":[{"module":"github.com/labstack/echo/v4","version":"v4.16.5","package":"github.com/labstack/echo/v4","function":"ServeHTTP","receiver":"*Echo"}]}}`
)

func TestGate(t *testing.T) {
	echoTriaged := map[string]bool{"GO-2026-6872": true}
	tests := []struct {
		name     string
		input    []string
		accepted map[string]bool
		wantFail bool
		wantOut  string
	}{
		{"no findings", []string{configMsg}, nil, false, "no reachable vulnerability"},
		{"reached and fixable fails", []string{configMsg, stdlibImported, stdlibReached}, nil, true, "FAIL: GO-2026-6617 in stdlib is reached by our code (fixed in v1.26.9): upgrade stdlib to v1.26.9"},
		{"a fixable finding fails even when listed", []string{stdlibReached}, map[string]bool{"GO-2026-6617": true}, true, "FAIL: GO-2026-6617"},
		{"imported but not reached is a note", []string{stdlibImported}, nil, false, "note: GO-2026-6617 in stdlib (fixed in v1.26.9) is not reached"},
		{"reached, no fix, triaged passes", []string{echoModule, echoReached}, echoTriaged, false, "accepted: GO-2026-6872"},
		{"reached, no fix, not triaged fails", []string{echoModule, echoReached}, nil, true, "FAIL: GO-2026-6872 in github.com/labstack/echo/v4 is reached by our code (no fix): not triaged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(strings.NewReader(strings.Join(tt.input, "\n")), &out, tt.accepted)
			if got := errors.Is(err, errFailed); got != tt.wantFail {
				t.Fatalf("failed = %v (err %v), want %v; output:\n%s", got, err, tt.wantFail, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output:\n%s\nwant it to contain %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestGateRejectsGarbage(t *testing.T) {
	err := run(strings.NewReader(`{"finding":`), &bytes.Buffer{}, nil)
	if err == nil || errors.Is(err, errFailed) {
		t.Fatalf("got %v, want a read error", err)
	}
}
