package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func recording(t *testing.T, trusted string) (*Telemetry, *tracetest.InMemoryExporter) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	p, err := parseTrusted(trusted)
	if err != nil {
		t.Fatal(err)
	}
	return &Telemetry{provider: tp, tracer: tp.Tracer("test"), trusted: p}, exp
}

func TestOffByDefault(t *testing.T) {
	tel, err := Start(context.Background(), "api", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if tel.On() {
		t.Fatal("tracing on with no OTEL_EXPORTER_OTLP_ENDPOINT")
	}
	h := &plain{}
	if got, ok := tel.Handler(h, nil).(*plain); !ok || got != h {
		t.Fatal("off: Handler wrapped the handler")
	}
	if tel.Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Fatal("off: Transport wrapped the transport")
	}
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_SDK_DISABLED": "true"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "OTEL_TRACES_EXPORTER": "none"},
	} {
		if Enabled(func(k string) string { return env[k] }) {
			t.Errorf("%v: enabled", env)
		}
	}
	if !Enabled(func(k string) string {
		return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x:4318/v1/traces"}[k]
	}) {
		t.Error("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone: not enabled")
	}
}

type plain struct{}

func (*plain) ServeHTTP(http.ResponseWriter, *http.Request) {}

func TestBadConfigNamesTheVariable(t *testing.T) {
	for name, val := range map[string]string{"TRACE_TRUSTED_PEERS": "10.0.0.0/33", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "jaeger:4318", "OTEL_TRACES_SAMPLER": "jaeger_remote",
		"OTEL_TRACES_SAMPLER_ARG": "1.5"} {
		env := map[string]string{name: val, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
		_, err := Start(context.Background(), "api", func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: got %v, want an error naming it", name, val, err)
		}
	}
}

// A trusted peer's traceparent is continued; anyone else's starts a new
// trace, so an outsider cannot join or steer the stack's traces.
func TestTraceparentOnlyFromTrustedPeers(t *testing.T) {
	tel, exp := recording(t, "10.0.0.0/8")
	h := tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), r.Method, "/api/inventory/:id")
	}), nil)
	for _, tc := range []struct {
		peer      string
		continued bool
	}{
		{"10.1.2.3:5555", true},
		{"203.0.113.9:5555", false},
		{"[::ffff:10.1.2.3]:5555", true},
		{"garbage", false},
	} {
		exp.Reset()
		req := httptest.NewRequest("GET", "/api/inventory/42", nil)
		req.RemoteAddr = tc.peer
		req.Header.Set("traceparent", parent)
		h.ServeHTTP(httptest.NewRecorder(), req)
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s: got %d spans, want 1", tc.peer, len(spans))
		}
		s := spans[0]
		got := s.SpanContext.TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736"
		if got != tc.continued {
			t.Errorf("%s: continued the caller's trace = %v, want %v", tc.peer, got, tc.continued)
		}
		if s.Name != "GET /api/inventory/:id" {
			t.Errorf("%s: span name %q, want the route template", tc.peer, s.Name)
		}
	}
}

func TestTransportSendsTraceparent(t *testing.T) {
	tel, exp := recording(t, "")
	var got string
	backend := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Get("traceparent") }))
	defer backend.Close()
	client := &http.Client{Transport: tel.Transport(nil)}
	ctx, span := tel.Tracer().Start(context.Background(), "job")
	req, _ := http.NewRequestWithContext(ctx, "GET", backend.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	span.End()
	tid := span.SpanContext().TraceID().String()
	if !strings.HasPrefix(got, "00-"+tid+"-") {
		t.Fatalf("backend saw traceparent %q, want one in trace %s", got, tid)
	}
	if n := len(exp.GetSpans()); n != 2 {
		t.Fatalf("got %d spans, want the job and its client span", n)
	}
}

func TestChildOnlyAndUntracedPaths(t *testing.T) {
	tel, exp := recording(t, "")
	tr := tel.ChildTracerProvider().Tracer("redis")
	_, s := tr.Start(context.Background(), "heartbeat")
	s.End()
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("a background call started %d spans, want none", n)
	}
	ctx, parentSpan := tel.Tracer().Start(context.Background(), "GET /api/inventory/:id")
	_, s = tr.Start(ctx, "get")
	s.End()
	parentSpan.End()
	if n := len(exp.GetSpans()); n != 2 {
		t.Fatalf("inside a request: got %d spans, want 2", n)
	}
	exp.Reset()
	h := tel.Handler(&plain{}, nil)
	for _, p := range []string{"/health", "/ready", "/metrics"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("health checks and scrapes made %d spans, want none", n)
	}
}

// A proxy forwards its own span as the parent, and drops an outsider's
// traceparent even with tracing off.
func TestProxyHandlerForwardsItsOwnSpan(t *testing.T) {
	tel, exp := recording(t, "10.0.0.0/8")
	var forwarded string
	h := tel.ProxyHandler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		forwarded = r.Header.Get("traceparent")
	}), func(*http.Request) string { return "api" })
	req := httptest.NewRequest("GET", "/api/inventory", nil)
	req.RemoteAddr = "10.0.0.2:1234"
	req.Header.Set("traceparent", parent)
	h.ServeHTTP(httptest.NewRecorder(), req)
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET api" {
		t.Fatalf("got %v, want one span GET api", spans)
	}
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + spans[0].SpanContext.SpanID().String() + "-01"
	if forwarded != want {
		t.Fatalf("forwarded traceparent %q, want %q (the proxy's span)", forwarded, want)
	}

	off, err := Start(context.Background(), "lb", func(k string) string { return map[string]string{"TRACE_TRUSTED_PEERS": "10.0.0.0/8"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	h = off.ProxyHandler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		forwarded = r.Header.Get("traceparent")
	}), nil)
	for peer, want := range map[string]string{"10.0.0.2:1": parent, "198.51.100.7:1": ""} {
		req := httptest.NewRequest("GET", "/api/inventory", nil)
		req.RemoteAddr = peer
		req.Header.Set("traceparent", parent)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if forwarded != want {
			t.Errorf("off, from %s: forwarded %q, want %q", peer, forwarded, want)
		}
	}
}

// Unset, the sampler records a share of the traces a service starts and
// follows a trusted caller's decision either way; OTEL_TRACES_SAMPLER and
// its _ARG choose another, read through the injected getenv.
func TestSamplerFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "ParentBased{root:TraceIDRatioBased{0.1}"},
		{map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1"}, "ParentBased{root:TraceIDRatioBased{1}"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, "AlwaysOnSampler"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "TraceIdRatio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, "TraceIDRatioBased{0.25}"},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, "ParentBased{root:AlwaysOffSampler"},
	} {
		s, _, err := samplerFrom(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if got := s.Description(); !strings.HasPrefix(got, tc.want) {
			t.Errorf("%v: sampler %s, want %s…", tc.env, got, tc.want)
		}
	}

	s, _, _ := samplerFrom(func(string) string { return "" })
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(s))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tel := &Telemetry{provider: tp, tracer: tp.Tracer("test"), trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	h := tel.Handler(&plain{}, nil)
	for _, tc := range []struct {
		traceparent string
		spans       int
	}{
		{parent, 1}, // the caller sampled it
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 0}, // the caller did not
	} {
		exp.Reset()
		req := httptest.NewRequest("GET", "/api/inventory", nil)
		req.RemoteAddr = "10.0.0.2:1234"
		req.Header.Set("traceparent", tc.traceparent)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if n := len(exp.GetSpans()); n != tc.spans {
			t.Errorf("traceparent %s: got %d spans, want %d", tc.traceparent, n, tc.spans)
		}
	}
}

// A server span says what was asked and answered, and a 5xx is an error.
func TestServerSpanAttributes(t *testing.T) {
	tel, exp := recording(t, "")
	h := tel.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), r.Method, "/api/inventory/:id")
		w.WriteHeader(http.StatusServiceUnavailable)
	}), nil)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/api/inventory/42", nil))
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	got := map[string]string{"name": s.Name, "status": s.Status.Code.String()}
	for _, kv := range s.Attributes {
		got[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]string{
		"name": "_OTHER /api/inventory/:id", "status": "Error", "http.request.method": "_OTHER",
		"url.path": "/api/inventory/42", "http.route": "/api/inventory/:id", "http.response.status_code": "503",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("span (-want +got):\n%s", diff)
	}
}

// Calls to services outside the stack get a client span inside a recorded
// span only, and never the stack's trace headers.
func TestExternalTransportSendsNoTraceparent(t *testing.T) {
	tel, exp := recording(t, "")
	var got []string
	backend := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
	}))
	defer backend.Close()
	client := &http.Client{Transport: tel.ExternalTransport(nil)}
	get := func(ctx context.Context) {
		req, _ := http.NewRequestWithContext(ctx, "GET", backend.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get(context.Background())
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("a call outside any trace made %d spans, want none", n)
	}
	ctx, span := tel.Tracer().Start(context.Background(), "enrich job")
	get(ctx)
	span.End()
	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "GET "+strings.TrimPrefix(backend.URL, "http://") {
		t.Fatalf("got %v, want the job and its client span GET host", spans)
	}
	if diff := cmp.Diff([]string{"", ""}, got); diff != "" {
		t.Errorf("traceparent sent outside the stack (-want +got):\n%s", diff)
	}
}

// The proxies' own traceparent writing says what propagation.TraceContext
// says, for sampled and unsampled spans, with and without a trace state,
// over a header that had the caller's trace context or none.
func TestTraceContextAsTheW3CPropagatorWritesIt(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	state, _ := trace.ParseTraceState("vendor=1,other=2")
	for _, tc := range []struct {
		name  string
		flags trace.TraceFlags
		state trace.TraceState
		had   http.Header
	}{
		{"sampled", trace.FlagsSampled, trace.TraceState{}, http.Header{}},
		{"a flag the specification does not define", 0x81, trace.TraceState{}, http.Header{}},
		{"unsampled, random", trace.FlagsRandom, trace.TraceState{}, http.Header{}},
		{"trace state", trace.FlagsSampled, state, http.Header{}},
		{"over the caller's", trace.FlagsSampled, trace.TraceState{}, http.Header{"Traceparent": {parent}, "Tracestate": {"caller=1"}}},
		{"over the caller's, with a state", 0, state, http.Header{"Traceparent": {parent}, "Tracestate": {"caller=1"}}},
	} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tc.flags, TraceState: tc.state})
		want := tc.had.Clone()
		want.Del("Tracestate")
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), propagation.HeaderCarrier(want))
		got := tc.had.Clone()
		setTraceContext(got, sc)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: header (-propagator +ours):\n%s", tc.name, diff)
		}
		if got, want := string(AppendTraceparent([]byte("x"), sc)), "x"+want.Get("Traceparent"); got != want {
			t.Errorf("%s: AppendTraceparent = %q, want %q", tc.name, got, want)
		}
	}
}

// An unsampled request costs its server span no attribute and no
// status-recording writer: the handler gets the writer it was given.
func TestUnsampledRequestGoesThroughUnwrapped(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	rec := httptest.NewRecorder()
	var got http.ResponseWriter
	var sc trace.SpanContext
	New(tp).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, sc = w, trace.SpanContextFromContext(r.Context())
	}), nil).ServeHTTP(rec, httptest.NewRequest("GET", "/api/inventory", nil))
	if got != http.ResponseWriter(rec) {
		t.Errorf("handler got writer %T, want the server's", got)
	}
	if !sc.IsValid() || sc.IsSampled() {
		t.Errorf("handler's span context %v, want a valid unsampled one (its trace_id is logged, its traceparent sent on)", sc)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("recorded %d spans, want none", n)
	}
}

// A server decides the sampling of the traces it starts as the SDK's
// sampler would, without the SDK for those it does not record: the
// handler's span context is sampled exactly when the configured sampler
// says so for its trace id, a recorded trace's span has the ids the
// handler saw, spans below it continue its trace, and below an unsampled
// one they record nothing.
func TestServerDecidesItsRootsAsTheSampler(t *testing.T) {
	for _, env := range []map[string]string{
		{"OTEL_TRACES_SAMPLER_ARG": "0.5"},
		{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
		{"OTEL_TRACES_SAMPLER": "parentbased_always_off"},
	} {
		sampler, root, err := samplerFrom(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		exp := tracetest.NewInMemoryExporter()
		tel := newTelemetry(sampler, root, nil, sdktrace.WithSyncer(exp))
		t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
		type seen struct{ server, child, newRoot trace.SpanContext }
		var got []seen
		h := tel.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, child := tel.Tracer().Start(r.Context(), "child")
			child.End()
			_, newRoot := tel.Tracer().Start(r.Context(), "job", trace.WithNewRoot())
			newRoot.End()
			got = append(got, seen{trace.SpanContextFromContext(r.Context()), child.SpanContext(), newRoot.SpanContext()})
		}), nil)
		for range 400 {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/inventory", nil))
		}
		recorded := map[trace.SpanID]bool{}
		for _, s := range exp.GetSpans() {
			if s.Name == "GET" {
				recorded[s.SpanContext.SpanID()] = s.SpanContext.TraceID().IsValid()
			}
		}
		sampled := 0
		for _, s := range got {
			want := sampler.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), TraceID: s.server.TraceID()}).Decision == sdktrace.RecordAndSample
			if !s.server.IsValid() || s.server.IsSampled() != want || recorded[s.server.SpanID()] != want {
				t.Fatalf("%v: server span %v sampled %v, recorded %v; the sampler says %v for its trace id",
					env, s.server, s.server.IsSampled(), recorded[s.server.SpanID()], want)
			}
			if s.child.TraceID() != s.server.TraceID() || s.child.SpanID() == s.server.SpanID() || s.child.IsSampled() != want {
				t.Fatalf("%v: child %v of server span %v, want its trace, its own id, sampled %v", env, s.child, s.server, want)
			}
			if s.newRoot.TraceID() == s.server.TraceID() {
				t.Fatalf("%v: a new root in the request got the request's trace id %s", env, s.server.TraceID())
			}
			if want {
				sampled++
			}
		}
		if len(recorded) != sampled {
			t.Errorf("%v: %d server spans recorded, want %d", env, len(recorded), sampled)
		}
		if env["OTEL_TRACES_SAMPLER_ARG"] == "0.5" && (sampled < 120 || sampled > 280) || env["OTEL_TRACES_SAMPLER_ARG"] == "" && sampled != 0 {
			t.Errorf("%v: %d of 400 traces sampled", env, sampled)
		}
	}
}
