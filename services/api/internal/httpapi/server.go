// Package httpapi is the API's one HTTP layer on echo v4: the route table
// (routes.go), every middleware and handler (items, import, status,
// sign-in, the event stream, rate limits, idempotency keys), problem+json
// errors, the OpenAPI document and Swagger UI.
//
// Handlers depend on small interfaces declared here (ItemStore, Publisher,
// ReplicaLister, Sessions, EventFeed, Limiter, Idempotency, and
// auth.Authenticator), so decorators (a cache around the store), event
// publishers and other authenticators plug in without touching handlers,
// and the packages behind them (session, events, ratelimit, idempotency)
// know nothing of HTTP handlers.
package httpapi

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/secret"
	"github.com/docker-examples/stack/services/api/internal/auth"
	"github.com/docker-examples/stack/services/api/internal/health"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/metrics"
)

// ItemStore is what the handlers need from persistence; *store.Store
// implements it, and a caching decorator can wrap it. Errors are
// store.ErrNotFound, store.ErrConflict and store.ErrUnavailable (wrapped),
// or whatever apply and check return.
type ItemStore interface {
	ListItems(ctx context.Context, q inventory.ListQuery) (inventory.Page, error)
	GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error)
	CreateItem(ctx context.Context, it inventory.Item) (inventory.Item, error)
	// UpdateItem calls apply with the current item, locked, and stores
	// what it returns.
	UpdateItem(ctx context.Context, id uuid.UUID, apply func(inventory.Item) (inventory.Item, error)) (inventory.Item, error)
	// DeleteItem calls check with the current item, locked, and deletes it
	// when check returns nil.
	DeleteItem(ctx context.Context, id uuid.UUID, check func(inventory.Item) error) (inventory.Item, error)
}

// Refresher queues an item's enrichment (*store.Store): ErrNotFound for
// an unknown item.
type Refresher interface {
	EnqueueRefresh(ctx context.Context, id uuid.UUID) (time.Time, error)
}

// Publisher is told about every successful write, after it is committed.
// A failure to publish is logged and never fails the request.
type Publisher interface {
	Publish(ctx context.Context, e inventory.Event) error
}

// Replica is one live API instance, as /api/status lists it.
type Replica struct {
	InstanceID string    `json:"instance_id"`
	Version    string    `json:"version"`
	LastSeen   time.Time `json:"last_seen"`
}

// ReplicaLister lists live replicas (from their Redis heartbeats).
type ReplicaLister interface {
	Replicas(ctx context.Context) ([]Replica, error)
}

// Deps is everything the HTTP layer needs. Log, Items, Health and Metrics
// are required; the rest have safe defaults.
type Deps struct {
	Log     *slog.Logger
	Items   ItemStore
	Health  *health.Checker
	Metrics *metrics.Metrics
	// MetricsToken, when set (METRICS_TOKEN or METRICS_TOKEN_FILE), is
	// the bearer token /metrics asks for: without it /metrics answers 401.
	MetricsToken secret.Value
	// Auth decides who may write. Nil refuses every write with 401. It
	// runs once per /api request, before RateLimit, so the limiter can
	// count by principal (auth.FromContext).
	Auth auth.Authenticator
	// ReadsRequireAuth makes reading the inventory and its events need
	// credentials too; by default reads are public.
	ReadsRequireAuth bool
	// Sessions backs /api/auth/login, /logout and /session. Nil: no
	// browser login (login answers 401, session "not authenticated").
	Sessions Sessions
	// EventFeed is what GET /api/events streams. Nil answers 503.
	EventFeed EventFeed
	// EventStreams tunes those streams.
	EventStreams EventStreams
	// Importer serves POST /api/import/compose. Nil answers 503.
	Importer Importer
	// Refresher serves POST /api/inventory/{id}/refresh. Nil answers 503.
	Refresher Refresher
	// Cursors signs and checks list cursors with the key every replica
	// shares; it may load that key on first use (an error is answered as
	// it maps: store.ErrUnavailable is 503). Nil signs with a key of this
	// process only: fine for one replica, a test, never for a cluster.
	Cursors func(context.Context) (*inventory.Cursors, error)
	// Events is told about writes. Nil publishes nothing.
	Events Publisher
	// Replicas feeds /api/status. Nil lists none.
	Replicas ReplicaLister

	InstanceID string
	StartedAt  time.Time
	// CORSOrigins are the exact origins (scheme://host[:port]) allowed to
	// call the API from a browser, with credentials. Empty disables CORS.
	CORSOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// Proxies, when set, is the resolver to use instead of one made from
	// TrustedProxies (it may also trust proxies by host name).
	Proxies *forwarded.Resolver

	// RateLimit is the budgets of /api requests. It runs after the caller
	// is identified and before the handler and its authorisation check.
	RateLimit RateLimit
	// Idempotency keeps the responses of writes made with an
	// Idempotency-Key, per principal. Nil ignores the header.
	Idempotency Idempotency

	// RequestTimeout (REQUEST_TIMEOUT) is the deadline of every request
	// but the event stream's: the store's queries and Redis calls end with
	// it, and the answer is 503 timeout. Zero: no deadline.
	RequestTimeout time.Duration
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

type server struct {
	Deps
	log     *slog.Logger
	proxies *forwarded.Resolver
	json    JSONReader   // Items, when it can answer reads as JSON
	streams *streamSlots // per client address, when EventStreams.PerClient caps them
}

// New returns the API's HTTP handler.
func New(d Deps) *echo.Echo {
	if d.Events == nil {
		d.Events = noPublisher{}
	}
	if d.Auth == nil {
		d.Auth = auth.Chain{}
	}
	if d.Replicas == nil {
		d.Replicas = noReplicas{}
	}
	d.EventStreams = d.EventStreams.withDefaults()
	if d.Cursors == nil {
		key := make([]byte, inventory.MinCursorKeyLen)
		_, _ = rand.Read(key)
		c, _ := inventory.NewCursors(key)
		d.Cursors = func(context.Context) (*inventory.Cursors, error) { return c, nil }
	}
	s := &server{Deps: d, log: d.Log, proxies: d.Proxies}
	if s.proxies == nil {
		s.proxies = forwarded.New(d.TrustedProxies)
	}
	s.json, _ = d.Items.(JSONReader)
	if d.EventStreams.PerClient > 0 {
		s.streams = newStreamSlots(d.EventStreams.PerClient)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = s.clientIP
	s.routes(e)
	return e
}

type noPublisher struct{}

func (noPublisher) Publish(context.Context, inventory.Event) error { return nil }

type noReplicas struct{}

func (noReplicas) Replicas(context.Context) ([]Replica, error) { return []Replica{}, nil }
