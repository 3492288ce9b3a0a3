package events_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/faultredis"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	redistest.Stop()
	os.Exit(code)
}

func TestPublishWithRedisDown(t *testing.T) {
	r := faultredis.New(t)
	p := events.NewPublisher(r.Client(t), "", 0, "api-1")
	r.Stop()
	if _, err := p.Publish(context.Background(), events.ItemCreated, "1", nil); err == nil {
		t.Error("Publish with Redis down returned nil")
	}
}

func TestParseID(t *testing.T) {
	tests := []struct {
		in   string
		want events.ID
		ok   bool
	}{
		{"1700000000000-0", events.ID{Ms: 1700000000000}, true},
		{"0-0", events.ID{}, true},
		{"18446744073709551615-18446744073709551615", events.ID{Ms: 1<<64 - 1, Seq: 1<<64 - 1}, true},
		{"18446744073709551616-0", events.ID{}, false},
		{"", events.ID{}, false},
		{"1700000000000", events.ID{}, false},
		{"-1-0", events.ID{}, false},
		{"+1-0", events.ID{}, false},
		{"1-0-0", events.ID{}, false},
		{" 1-0", events.ID{}, false},
		{"$", events.ID{}, false},
		{"1-x", events.ID{}, false},
	}
	for _, tc := range tests {
		got, err := events.ParseID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseID(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzParseID: no panic, and every accepted id prints back to itself
// (leading zeros aside) and orders consistently.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0-0", "1700000000000-12", "1-", "-1", "99999999999999999999-1", "1-0\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := events.ParseID(s)
		if err != nil {
			return
		}
		back, err := events.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v, which does not round-trip (%v, %v)", s, id, back, err)
		}
		if id.Less(id) {
			t.Fatalf("%v is less than itself", id)
		}
		if strings.ContainsAny(id.String(), "\r\n") {
			t.Fatalf("id %q would break SSE framing", id)
		}
	})
}
