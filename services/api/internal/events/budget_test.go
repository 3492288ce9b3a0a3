package events_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/docker-examples/stack/services/api/internal/events"
	"github.com/docker-examples/stack/services/api/internal/redistest"
)

// A writer making large items, or items just under the entry cap (the
// most bytes an entry can hold), cannot grow the stream past its byte
// budget, however many it writes: Redis's own count of the stream's
// memory stays under it. Items too large for an entry are announced
// without their body.
func TestStreamStaysWithinItsByteBudget(t *testing.T) {
	const budget = 1 << 20
	ctx := context.Background()
	writes := int(3 * events.MaxLen(budget))
	// payload less description: {"id":"…","item":{"description":"…"},"instance_id":"api-1"}
	const envelope = len(`{"id":"0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a","item":{"description":""},"instance_id":"api-1"}`)
	for _, tt := range []struct {
		name    string
		size    int
		omitted bool
	}{
		{"items filling an entry", events.MaxEntryBytes - envelope, false},
		{"items of 2 KiB", 2 << 10, false},
		{"items of 1.5 KiB", 1536, false},
		{"items of 60 KiB", 60 << 10, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rdb := redistest.New(t)
			p := events.NewPublisher(rdb, "", budget, "api-1")
			item := map[string]string{"description": strings.Repeat("x", tt.size)}
			for range writes {
				if _, err := p.Publish(ctx, events.ItemUpdated, "0193a0e4-7c3e-7d2a-9a4b-1f2e3d4c5b6a", item); err != nil {
					t.Fatal(err)
				}
			}
			used, err := rdb.MemoryUsage(ctx, events.DefaultStream, 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			n, _ := rdb.XLen(ctx, events.DefaultStream).Result()
			t.Logf("%d writes: %d entries, %d bytes of a %d budget", writes, n, used, budget)
			if used > budget {
				t.Errorf("the stream uses %d bytes after %d writes, over its budget of %d", used, writes, budget)
			}
			last, err := rdb.XRevRangeN(ctx, events.DefaultStream, "+", "-", 1).Result()
			if err != nil || len(last) != 1 {
				t.Fatalf("last entry: %v %v", last, err)
			}
			data, _ := last[0].Values["data"].(string)
			if len(data) > events.MaxEntryBytes {
				t.Errorf("an entry holds %d bytes, over MaxEntryBytes (%d)", len(data), events.MaxEntryBytes)
			}
			var got struct {
				ID          string          `json:"id"`
				Item        json.RawMessage `json:"item"`
				ItemOmitted bool            `json:"item_omitted"`
			}
			if err := json.Unmarshal([]byte(data), &got); err != nil {
				t.Fatal(err)
			}
			if got.ItemOmitted != tt.omitted || (got.Item == nil) != tt.omitted || got.ID == "" {
				t.Errorf("entry = %.120s…, want item_omitted %v and the item only without it", data, tt.omitted)
			}
		})
	}
}
