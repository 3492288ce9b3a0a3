package enrich_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/docker-examples/stack/platform/telemetry"
	"github.com/docker-examples/stack/services/api/internal/enrich"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/registrytest"
)

// A check job is one trace: the job's span, a span per source under it,
// and under those the HTTP calls to the registry and GitHub, so a person
// looking at a slow or failing job sees which call it was.
func TestCheckJobIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := setupTraced(t, telemetry.New(tp))
	counted := &jobCounter{}
	e.worker.Metrics = counted
	e.reg.Push(t, "acme/app:1.2", registrytest.Image(t, t0))
	it := e.create(t, inventory.Input{Name: "app", Image: e.reg.Host + "/acme/app:1.2",
		SourceURL: "https://github.com/acme/app", DocsURLs: []string{e.docs + "/ok"}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- e.worker.Run(ctx) }()
	e.waitFor(t, it.ID, func(it inventory.Item) bool { return it.Registry.State == inventory.StateOK })
	cancel()
	<-done // the job's spans have ended

	spans := exp.GetSpans()
	var job tracetest.SpanStub
	for _, s := range spans {
		if s.Name == "enrich job" && attr(s, "enrich.item_id") == it.ID.String() {
			job = s
		}
	}
	if !job.SpanContext.IsValid() {
		t.Fatalf("no span named enrich job for item %s among %s", it.ID, names(spans))
	}
	if got := attr(job, "enrich.result"); got != enrich.ResultOK {
		t.Errorf("job span's enrich.result = %q, want %q", got, enrich.ResultOK)
	}
	children := func(parent tracetest.SpanStub) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range spans {
			if s.Parent.SpanID() == parent.SpanContext.SpanID() && s.SpanContext.TraceID() == job.SpanContext.TraceID() {
				out = append(out, s)
			}
		}
		return out
	}
	sources := map[string]tracetest.SpanStub{}
	for _, s := range children(job) {
		sources[s.Name] = s
	}
	for _, name := range []string{"registry check", "github check", "link check"} {
		if _, ok := sources[name]; !ok {
			t.Errorf("job span has no child %q; its children: %s", name, names(children(job)))
		}
	}
	// The calls themselves, as client spans named by method and host.
	for source, host := range map[string]string{"registry check": e.reg.Host, "github check": "127.0.0.1"} {
		calls := children(sources[source])
		if len(calls) == 0 {
			t.Errorf("%s has no HTTP client span", source)
		}
		for _, c := range calls {
			if c.SpanKind != trace.SpanKindClient || !strings.Contains(c.Name, " "+host) {
				t.Errorf("%s: child %q (kind %v), want a client span \"METHOD %s…\"", source, c.Name, c.SpanKind, host)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{enrich.ResultOK: 1}, counted.results()); diff != "" {
		t.Errorf("jobs counted by result (-want +got):\n%s", diff)
	}
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func names(spans []tracetest.SpanStub) string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// jobCounter is an enrich.Recorder that remembers the results.
type jobCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *jobCounter) ObserveEnrichJob(result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[result]++
}

func (c *jobCounter) results() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}
