// Package telemetry is the stack's one OpenTelemetry set-up: a tracer
// provider exporting spans over OTLP/HTTP, the W3C trace-context
// propagator, and HTTP server and client wrappers that accept a caller's
// traceparent only from trusted peers.
//
// Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (and OTEL_SDK_DISABLED is not
// "true", and OTEL_TRACES_EXPORTER is not "none"). Off, Start installs
// nothing and the wrappers return what they wrap: no span, no cost. On,
// OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER and its _ARG are read through
// the caller's getenv; the sampler defaults to parentbased_traceidratio at
// DefaultSampleRatio (a trusted caller's sampling decision is followed;
// set OTEL_TRACES_SAMPLER_ARG=1 to record every trace). The OpenTelemetry
// SDK reads the other standard variables itself (OTEL_RESOURCE_ATTRIBUTES,
// OTEL_BSP_*, OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, ...).
//
// TRACE_TRUSTED_PEERS (a comma list of CIDRs, default loopback and the
// private ranges) names the peers whose traceparent a server continues;
// a request from any other peer starts a new trace. Set it to "none" at
// an edge that faces the internet.
package telemetry

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/docker-examples/stack/platform/buildinfo"
	"github.com/docker-examples/stack/platform/statuswriter"
)

// Telemetry is the running set-up. The zero value and a nil *Telemetry
// are "off". Its methods are safe for concurrent use.
type Telemetry struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	trusted  []netip.Prefix
	root     rootSampling
}

// defaultTrusted are the peers a server continues traces from unless
// TRACE_TRUSTED_PEERS says otherwise.
const defaultTrusted = "127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"

// Enabled reports whether getenv asks for tracing.
func Enabled(getenv func(string) string) bool {
	if strings.EqualFold(getenv("OTEL_SDK_DISABLED"), "true") || strings.EqualFold(getenv("OTEL_TRACES_EXPORTER"), "none") {
		return false
	}
	return getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Start sets tracing up for the service named service (OTEL_SERVICE_NAME
// overrides it) as getenv says, and installs it as the global tracer
// provider and propagator. With tracing off it returns an off Telemetry
// and installs nothing. A bad TRACE_TRUSTED_PEERS is an error that names
// it. The caller calls Shutdown once, at exit, to flush spans.
func Start(ctx context.Context, service string, getenv func(string) string) (*Telemetry, error) {
	trusted, err := parseTrusted(getenv("TRACE_TRUSTED_PEERS"))
	if err != nil {
		return nil, err
	}
	if !Enabled(getenv) {
		return &Telemetry{trusted: trusted}, nil
	}
	sampler, root, err := samplerFrom(getenv)
	if err != nil {
		return nil, err
	}
	if p := getenv("OTEL_EXPORTER_OTLP_PROTOCOL"); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported; use http/protobuf", p)
	}
	// The endpoint as getenv says (the SDK would read the process's
	// environment); the exporter reads the other OTEL_EXPORTER_OTLP_* itself.
	endpoint, name := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	if endpoint == "" {
		endpoint, name = strings.TrimSuffix(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "/")+"/v1/traces", "OTEL_EXPORTER_OTLP_ENDPOINT"
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s: %q is not an http(s) URL such as http://jaeger:4318", name, endpoint)
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if name := getenv("OTEL_SERVICE_NAME"); name != "" {
		service = name
	}
	host, _ := os.Hostname()
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(service),
		semconv.ServiceVersion(buildinfo.Version),
		semconv.ServiceInstanceID(host),
		attribute.String("vcs.ref.head.revision", buildinfo.Commit),
	))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	// resource.WithFromEnv: OTEL_RESOURCE_ATTRIBUTES wins over the above.
	if envRes, err := resource.New(ctx, resource.WithFromEnv()); err == nil {
		if merged, err := resource.Merge(res, envRes); err == nil {
			res = merged
		}
	}
	t := newTelemetry(sampler, root, trusted, sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(t.provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return t, nil
}

// newTelemetry is a Telemetry on a provider with sampler and opts, whose
// servers decide the sampling of the traces they start as root says.
func newTelemetry(sampler sdktrace.Sampler, root rootSampling, trusted []netip.Prefix, opts ...sdktrace.TracerProviderOption) *Telemetry {
	opts = append(opts, sdktrace.WithSampler(sampler), sdktrace.WithIDGenerator(idGenerator{}))
	tp := sdktrace.NewTracerProvider(opts...)
	return &Telemetry{provider: tp, tracer: tp.Tracer("github.com/docker-examples/stack"), trusted: trusted, root: root}
}

// rootSampling is the sampler's decision for a trace that starts here (no
// parent) when it depends on the trace id alone, as TraceIDRatioBased's
// does: sampled when the id's last 8 bytes, shifted right by one, are
// below bound. A server makes that decision itself before it asks the SDK
// for a span, so that a trace it does not record (nine in ten at the
// default ratio) costs no SDK span start: the span context is what the
// SDK would have made (fresh random ids, not sampled), and when the trace
// is recorded the SDK is handed the very ids decided on (idGenerator), so
// its sampler decides the same.
type rootSampling struct {
	fast  bool // the decision is the trace id's, as below
	bound uint64
}

// ratioRoot is the rootSampling of TraceIDRatioBased(ratio), which
// records every root at a ratio of 1 and then needs no fast path.
func ratioRoot(ratio float64) rootSampling {
	if ratio >= 1 {
		return rootSampling{}
	}
	return rootSampling{fast: true, bound: uint64(max(ratio, 0) * (1 << 63))}
}

// sampled reports whether the trace tid is recorded.
func (rs rootSampling) sampled(tid trace.TraceID) bool {
	return binary.BigEndian.Uint64(tid[8:16])>>1 < rs.bound
}

// rootIDs are the ids a server decided on for a trace it records, for
// idGenerator to hand to the SDK once.
type rootIDs struct {
	tid   trace.TraceID
	sid   trace.SpanID
	taken atomic.Bool
}

type rootIDsKey struct{}

// idGenerator is the SDK's random id generator, except that a root span
// started under a server's rootIDs gets those.
type idGenerator struct{}

func (idGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if ids, ok := ctx.Value(rootIDsKey{}).(*rootIDs); ok && ids.taken.CompareAndSwap(false, true) {
		return ids.tid, ids.sid
	}
	return randomIDs()
}

func (idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return randomSpanID() }

// randomIDs are a random valid trace id and span id, as the SDK's default
// generator makes them.
func randomIDs() (tid trace.TraceID, sid trace.SpanID) {
	for !tid.IsValid() {
		binary.NativeEndian.PutUint64(tid[:8], rand.Uint64())
		binary.NativeEndian.PutUint64(tid[8:], rand.Uint64())
	}
	return tid, randomSpanID()
}

func randomSpanID() (sid trace.SpanID) {
	for !sid.IsValid() {
		binary.NativeEndian.PutUint64(sid[:], rand.Uint64())
	}
	return sid
}

// DefaultSampleRatio is the share of traces a service starts that are
// recorded when OTEL_TRACES_SAMPLER_ARG is unset: low enough that tracing
// costs a few percent of the api's CPU under load (README, Tracing), high
// enough that a person looking at the console finds recent traces. A
// caller's sampled traceparent is followed whatever the ratio.
const DefaultSampleRatio = 0.1

// samplerFrom is the sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
// name, as the OpenTelemetry specification defines them, read through
// getenv; unset, parentbased_traceidratio at DefaultSampleRatio.
// root is how a server may decide for the traces it starts itself.
func samplerFrom(getenv func(string) string) (_ sdktrace.Sampler, root rootSampling, _ error) {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	if name == "" {
		name = "parentbased_traceidratio"
	}
	ratio := DefaultSampleRatio
	if raw := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); raw != "" && strings.HasSuffix(name, "traceidratio") {
		r, err := strconv.ParseFloat(raw, 64)
		if err != nil || r < 0 || r > 1 {
			return nil, root, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio from 0 to 1", raw)
		}
		ratio = r
	}
	switch name {
	case "always_on":
		return sdktrace.AlwaysSample(), root, nil
	case "always_off":
		return sdktrace.NeverSample(), ratioRoot(0), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio), ratioRoot(ratio), nil
	case "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), root, nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), ratioRoot(0), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio)), ratioRoot(ratio), nil
	}
	return nil, root, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not supported; use parentbased_traceidratio (the default), traceidratio, always_on, always_off or parentbased_always_on/off", name)
}

// New is a Telemetry on tp, with the default trusted peers, for a test
// that records spans in memory (sdk/trace/tracetest). It installs
// nothing globally; the caller shuts tp down.
func New(tp *sdktrace.TracerProvider) *Telemetry {
	trusted, _ := parseTrusted("")
	return &Telemetry{provider: tp, tracer: tp.Tracer("github.com/docker-examples/stack"), trusted: trusted}
}

func parseTrusted(raw string) ([]netip.Prefix, error) {
	raw = strings.TrimSpace(raw)
	switch raw {
	case "":
		raw = defaultTrusted
	case "none":
		return nil, nil
	}
	var out []netip.Prefix
	for _, part := range strings.Split(raw, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return nil, fmt.Errorf("TRACE_TRUSTED_PEERS: %q is not a CIDR (want e.g. 10.0.0.0/8, or none)", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// On reports whether spans are recorded and exported.
func (t *Telemetry) On() bool { return t != nil && t.provider != nil }

// Tracer is the stack's tracer: a no-op one when off.
func (t *Telemetry) Tracer() trace.Tracer {
	if !t.On() {
		return noop.NewTracerProvider().Tracer("")
	}
	return t.tracer
}

// TracerProvider is the provider instrumentation libraries take: a no-op
// one when off.
func (t *Telemetry) TracerProvider() trace.TracerProvider {
	if !t.On() {
		return noop.NewTracerProvider()
	}
	return t.provider
}

// ChildTracerProvider is TracerProvider for clients that also run outside
// any request (a Redis heartbeat, a pool's health check, a pub/sub loop):
// its tracers record a span only inside an existing trace, so background
// chatter starts no trace of its own.
func (t *Telemetry) ChildTracerProvider() trace.TracerProvider {
	return childOnlyProvider{t.TracerProvider()}
}

type childOnlyProvider struct{ trace.TracerProvider }

func (p childOnlyProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{p.TracerProvider.Tracer(name, opts...)}
}

type childOnlyTracer struct{ trace.Tracer }

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx) // a non-recording span
	}
	return t.Tracer.Start(ctx, name, opts...)
}

// Shutdown flushes the spans not yet exported and stops the exporter.
// It is a no-op when off.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	if !t.On() {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("telemetry shutdown: %w", err)
	}
	return nil
}

// Flush is Shutdown as a service's deferred last call: the exporter gets at
// most five seconds, even when ctx has ended (as it has once the service was
// told to stop), and a failure is logged to log, not returned. It is a no-op
// when off.
func (t *Telemetry) Flush(ctx context.Context, log *slog.Logger) {
	flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := t.Shutdown(flushCtx); err != nil {
		log.Warn("traces not flushed", "error", err.Error())
	}
}

// Trusted reports whether a traceparent from the peer at remoteAddr
// (host:port, as in http.Request.RemoteAddr) is continued.
func (t *Telemetry) Trusted(remoteAddr string) bool {
	if t == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(remoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = ap.Addr()
	} else if addr, err = netip.ParseAddr(remoteAddr); err != nil {
		return false
	}
	addr = addr.Unmap()
	for _, p := range t.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// traceHeaders are the trace-context headers an untrusted peer's request
// loses before it is traced.
var traceHeaders = []string{"Traceparent", "Tracestate", "Baggage"}

// Handler wraps h in a server span per request, named "METHOD route" by
// route (which returns a low-cardinality name such as a route template or
// a pool; "" means the method alone). A request from a trusted peer
// continues the trace its traceparent names; from any other peer it starts
// a new trace, sampled as the configured sampler decides on its trace id
// (see rootSampling: a trace that is not recorded costs no SDK span).
// Off, Handler returns h itself.
//
// The span carries http.request.method, url.path, http.route (see
// SetRoute) and http.response.status_code, and is an error from 500 up:
// what a person reading a trace needs, set on a recorded span only. The
// client's address and user agent are in the request's log line, which
// carries the same trace_id.
func (t *Telemetry) Handler(h http.Handler, route func(*http.Request) string) http.Handler {
	if !t.On() {
		return h
	}
	return &serverHandler{t: t, next: h, route: route}
}

type serverHandler struct {
	t     *Telemetry
	next  http.Handler
	route func(*http.Request) string
}

// serverSpan are the options of every server span, built once: options
// made per request are allocations on every request, sampled or not.
var serverSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

func (s *serverHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if untraced(r.URL.Path) {
		s.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	if hasTraceHeaders(r.Header) {
		if s.t.Trusted(r.RemoteAddr) {
			ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
		} else {
			dropTraceHeaders(r.Header)
		}
	}
	if s.t.root.fast && !trace.SpanContextFromContext(ctx).IsValid() {
		tid, sid := randomIDs()
		if !s.t.root.sampled(tid) {
			// The span the SDK would start, without its work.
			ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid}))
			s.next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ctx = context.WithValue(ctx, rootIDsKey{}, &rootIDs{tid: tid, sid: sid})
	}
	method := knownMethod(r.Method)
	name := method
	if s.route != nil {
		if rt := s.route(r); rt != "" {
			name = method + " " + rt
		}
	}
	// The attributes are set once the sampler said yes: an unsampled
	// request (nine in ten at the default ratio) builds none, and goes
	// through no status-recording writer. The samplers this package
	// configures decide on the trace id and the parent alone.
	ctx, span := s.t.tracer.Start(ctx, name, serverSpan...)
	defer span.End() // also when the handler panics (http.ErrAbortHandler)
	if !span.IsRecording() {
		s.next.ServeHTTP(w, r.WithContext(ctx))
		return
	}
	span.SetAttributes(semconv.HTTPRequestMethodKey.String(method), semconv.URLPath(r.URL.Path))
	sw := statuswriter.New(w)
	s.next.ServeHTTP(sw, r.WithContext(ctx))
	status := sw.Status
	if status == 0 {
		status = http.StatusOK // what net/http sends for a handler that wrote nothing
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(status))
	if status >= http.StatusInternalServerError {
		span.SetStatus(codes.Error, "")
	}
}

// knownMethod is method when it is a standard one, else "_OTHER" (as the
// semantic conventions say): a span name or attribute never holds what a
// client made up.
func knownMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}

// ProxyHandler is Handler for a reverse proxy that forwards r.Header to
// the next hop: the request's trace-context headers are replaced by the
// proxy's own server span, so the next hop continues the proxy's span.
// Off, it still drops the trace-context headers of an untrusted peer, so
// that a service behind it which traces does not continue them.
func (t *Telemetry) ProxyHandler(h http.Handler, route func(*http.Request) string) http.Handler {
	if !t.On() {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hasTraceHeaders(r.Header) && !t.Trusted(r.RemoteAddr) {
				dropTraceHeaders(r.Header)
			}
			h.ServeHTTP(w, r)
		})
	}
	inject := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sc := trace.SpanContextFromContext(r.Context()); sc.IsValid() {
			setTraceContext(r.Header, sc)
		}
		h.ServeHTTP(w, r)
	})
	return t.Handler(inject, route)
}

// ContextProxyHandler is ProxyHandler for a proxy that writes the next
// hop's trace-context headers itself, from the request's context, as the
// lb's forwarder writes its headers straight to the backend's connection:
// it leaves r.Header as it came (a trusted peer's traceparent stays in
// it), so when the request's context holds a valid span context, the
// proxy must send that one (AppendTraceparent, and its trace state) in
// place of r.Header's Traceparent and Tracestate. Off, it drops the
// trace-context headers of an untrusted peer, as ProxyHandler does. It
// saves the two allocations per request of writing the header into
// r.Header.
func (t *Telemetry) ContextProxyHandler(h http.Handler, route func(*http.Request) string) http.Handler {
	if !t.On() {
		return t.ProxyHandler(h, route)
	}
	return t.Handler(h, route)
}

// TraceparentLen is the length of a traceparent AppendTraceparent writes.
const TraceparentLen = 55

// AppendTraceparent appends sc as a W3C traceparent header value (version
// 00, the sampled and random flags), as propagation.TraceContext writes it.
func AppendTraceparent(b []byte, sc trace.SpanContext) []byte {
	var v [TraceparentLen]byte
	copy(v[:], "00-")
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(v[3:35], tid[:])
	v[35] = '-'
	hex.Encode(v[36:52], sid[:])
	v[52] = '-'
	flags := [1]byte{byte(sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom))}
	hex.Encode(v[53:], flags[:])
	return append(b, v[:]...)
}

// setTraceContext writes sc as the traceparent (and tracestate, when sc
// has one) of h, replacing those h had, as propagation.TraceContext's
// Inject does, in one allocation for the value (two when h had no
// traceparent) instead of three.
func setTraceContext(h http.Header, sc trace.SpanContext) {
	var b [TraceparentLen]byte
	v := string(AppendTraceparent(b[:0], sc))
	if vv := h["Traceparent"]; len(vv) == 1 {
		vv[0] = v
	} else {
		h["Traceparent"] = []string{v}
	}
	if ts := sc.TraceState(); ts.Len() > 0 {
		h["Tracestate"] = []string{ts.String()}
	} else {
		delete(h, "Tracestate")
	}
}

func hasTraceHeaders(h http.Header) bool {
	for _, k := range traceHeaders {
		if len(h[k]) > 0 {
			return true
		}
	}
	return false
}

// dropTraceHeaders deletes the trace-context headers from h (whose keys
// are canonical, as a server's request's are).
func dropTraceHeaders(h http.Header) {
	for _, k := range traceHeaders {
		delete(h, k)
	}
}

// untraced are the operational endpoints that health checks and scrapers
// call every few seconds: tracing them would bury the requests of users.
func untraced(path string) bool {
	switch path {
	case "/health", "/ready", "/metrics":
		return true
	}
	return false
}

// SetRoute names the current server span after the route that matched,
// once a router knows it (the Handler's route func may not): "METHOD
// route", with the http.route attribute. It does nothing without a
// recording span.
func SetRoute(ctx context.Context, method, route string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || route == "" {
		return
	}
	span.SetName(knownMethod(method) + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route))
}

// Transport wraps rt (nil: http.DefaultTransport) in a client span per
// request that sends the W3C traceparent on, for calls to the stack's own
// services. Off, it returns rt itself.
func (t *Telemetry) Transport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !t.On() {
		return rt
	}
	return t.otelTransport(rt, propagation.TraceContext{})
}

// ExternalTransport is Transport for calls to services that are not the
// stack's (a registry, GitHub, the links users typed): a client span per
// request, named "METHOD host", inside a recorded span only, and no trace
// header sent, so nothing of the stack's traces leaves it. Off, it
// returns rt itself.
func (t *Telemetry) ExternalTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if !t.On() {
		return rt
	}
	traced := t.otelTransport(rt, propagation.NewCompositeTextMapPropagator())
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if !trace.SpanFromContext(r.Context()).IsRecording() {
			return rt.RoundTrip(r) // no trace of its own for a call outside one
		}
		return traced.RoundTrip(r)
	})
}

func (t *Telemetry) otelTransport(rt http.RoundTripper, prop propagation.TextMapPropagator) http.RoundTripper {
	return otelhttp.NewTransport(rt,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return knownMethod(r.Method) + " " + r.URL.Host }),
	)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Inject writes the current span's traceparent into h, for a request
// made without Transport. It does nothing when off.
func (t *Telemetry) Inject(ctx context.Context, h http.Header) {
	if !t.On() {
		return
	}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
}
