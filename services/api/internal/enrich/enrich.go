// Package enrich keeps the inventory's facts fresh: a worker on every
// replica claims due jobs from PostgreSQL (store.ClaimJobs: FOR UPDATE
// SKIP LOCKED with a lease, so one replica works on each item and a dead
// replica's job is taken over when its lease runs out), asks the registry,
// GitHub and the link checker, stores the results with the item, and
// publishes the change.
//
// A failing source is recorded on the item (state error, the message,
// checked_at) and retried with backoff; a GitHub rate limit pauses the
// GitHub checks and keeps the facts it had, without failing the item.
package enrich

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/docker-examples/stack/services/api/internal/github"
	"github.com/docker-examples/stack/services/api/internal/inventory"
	"github.com/docker-examples/stack/services/api/internal/store"
	"github.com/docker-examples/stack/services/api/internal/tagver"
)

// Store is the persistence the worker needs (*store.Store).
type Store interface {
	ClaimJobs(ctx context.Context, worker string, n int, lease time.Duration) ([]store.Job, error)
	GetEnrichTarget(ctx context.Context, id uuid.UUID) (store.EnrichTarget, error)
	SaveEnrichment(ctx context.Context, j store.Job, e store.Enrichment, next time.Time) (bool, error)
	RetryJob(ctx context.Context, j store.Job, next time.Time, msg string) error
	GetItem(ctx context.Context, id uuid.UUID) (inventory.Item, error)
}

// Registry checks an image reference (*registry.Client).
type Registry interface {
	Check(ctx context.Context, ref string, prev *inventory.RegistryFacts, f tagver.Filter) (inventory.RegistryFacts, error)
}

// GitHub checks a repository (*github.Client).
type GitHub interface {
	Check(ctx context.Context, repo string, prev *github.State) (github.State, error)
}

// Links checks URLs (*linkcheck.Checker).
type Links interface {
	CheckAll(ctx context.Context, urls []string) []inventory.LinkResult
}

// Publisher is told about stored results (the API's event publisher).
type Publisher interface {
	Publish(ctx context.Context, e inventory.Event) error
}

// Recorder counts finished jobs by result (*metrics.Metrics): ResultOK,
// ResultFailed, ResultRetry or ResultSkipped.
type Recorder interface {
	ObserveEnrichJob(result string)
}

// The results a job ends with, as Recorder and the job's span see them.
const (
	ResultOK      = "ok"      // every source answered; the facts are stored
	ResultFailed  = "error"   // stored, but a source failed: it runs again with backoff
	ResultRetry   = "retry"   // nothing stored (the database, a shutdown): the job is given back
	ResultSkipped = "skipped" // the item was deleted or changed during the check
)

// Worker runs jobs. Registry, GitHub and Links may be nil (that source is
// then not checked).
type Worker struct {
	Store    Store
	Registry Registry
	GitHub   GitHub
	Links    Links
	Events   Publisher
	// Invalidate drops cached reads after new facts are stored.
	Invalidate func(ctx context.Context)
	Log        *slog.Logger
	// Tracer, when set, records a span per job (a trace of its own) with a
	// child span per source; the sources' HTTP client spans go under those.
	Tracer trace.Tracer
	// Metrics, when set, counts finished jobs.
	Metrics Recorder
	// ID names this replica in job leases.
	ID string
	// Interval between checks of an item (ENRICH_INTERVAL, 6h).
	Interval time.Duration
	// Lease is how long a claimed job is this replica's (5m); a job that
	// runs longer is cancelled so another replica never races it.
	Lease time.Duration
	// Poll is how often the queue is polled when idle (1s).
	Poll time.Duration
	// Concurrency bounds jobs run at once (4).
	Concurrency int
	Now         func() time.Time
}

func (w *Worker) defaults() {
	if w.Interval <= 0 {
		w.Interval = 6 * time.Hour
	}
	if w.Lease <= 0 {
		w.Lease = 5 * time.Minute
	}
	if w.Poll <= 0 {
		w.Poll = time.Second
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 4
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Invalidate == nil {
		w.Invalidate = func(context.Context) {}
	}
	if w.Tracer == nil {
		w.Tracer = noop.NewTracerProvider().Tracer("")
	}
}

// Run works on jobs until ctx ends, then waits for the jobs it started.
// It returns nil on a clean stop.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, w.Concurrency)
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		free := cap(sem) - len(sem)
		var jobs []store.Job
		if free > 0 {
			var err error
			jobs, err = w.Store.ClaimJobs(ctx, w.ID, free, w.Lease)
			if err != nil && ctx.Err() == nil {
				w.Log.WarnContext(ctx, "enrich: claiming jobs failed", "err", err)
			}
		}
		for _, j := range jobs {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				w.RunJob(ctx, j)
			}()
		}
		if len(jobs) == free && free > 0 {
			continue // there may be more due
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// RunJob checks one claimed job's item and stores the results.
func (w *Worker) RunJob(parent context.Context, j store.Job) {
	w.defaults()
	parent, span := w.Tracer.Start(parent, "enrich job", trace.WithNewRoot(), trace.WithAttributes(
		attribute.String("enrich.item_id", j.ItemID.String()), attribute.Int("enrich.attempt", j.Attempts),
		attribute.String("enrich.reason", j.Reason)))
	defer span.End()
	result := w.runJob(parent, j)
	span.SetAttributes(attribute.String("enrich.result", result))
	if result == ResultFailed || result == ResultRetry {
		span.SetStatus(codes.Error, result)
	}
	if w.Metrics != nil {
		w.Metrics.ObserveEnrichJob(result)
	}
}

func (w *Worker) runJob(parent context.Context, j store.Job) string {
	ctx, cancel := context.WithTimeout(parent, w.Lease-10*time.Second)
	defer cancel()
	log := w.Log.With("item_id", j.ItemID.String(), "attempt", j.Attempts, "reason", j.Reason)
	t, err := w.Store.GetEnrichTarget(ctx, j.ItemID)
	if errors.Is(err, store.ErrNotFound) {
		return ResultSkipped // deleted; its job row went with it
	}
	if err != nil {
		w.retry(parent, j, err, log)
		return ResultRetry
	}
	e, next := w.check(ctx, t, j)
	if parent.Err() != nil {
		// Shutting down mid-job: give it back now rather than at lease end.
		w.retry(context.WithoutCancel(parent), j, parent.Err(), log)
		return ResultRetry
	}
	saved, err := w.Store.SaveEnrichment(context.WithoutCancel(ctx), j, e, next)
	if err != nil {
		w.retry(context.WithoutCancel(parent), j, err, log)
		return ResultRetry
	}
	if !saved {
		log.DebugContext(ctx, "enrich: item changed during the check; it runs again")
		return ResultSkipped
	}
	w.Invalidate(ctx)
	it, err := w.Store.GetItem(context.WithoutCancel(ctx), j.ItemID)
	if err == nil && w.Events != nil {
		if err := w.Events.Publish(context.WithoutCancel(ctx), inventory.Event{Type: inventory.ItemUpdated, ID: it.ID, Item: &it}); err != nil {
			log.WarnContext(ctx, "enrich: publish failed", "err", err)
		}
	}
	log.InfoContext(ctx, "enrich: item checked", "next_run", next.UTC().Format(time.RFC3339))
	if e.Failed {
		return ResultFailed
	}
	return ResultOK
}

// source runs one source's check in a child span of the job's, named
// name, an error when check reports one.
func (w *Worker) source(ctx context.Context, name string, attrs []attribute.KeyValue, check func(context.Context) error) {
	ctx, span := w.Tracer.Start(ctx, name, trace.WithAttributes(attrs...))
	defer span.End()
	if err := check(ctx); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
}

func (w *Worker) retry(ctx context.Context, j store.Job, err error, log *slog.Logger) {
	next := w.Now().Add(backoff(j.Attempts, w.Interval))
	log.WarnContext(ctx, "enrich: job failed; retrying", "err", err, "next_run", next)
	if rerr := w.Store.RetryJob(ctx, j, next, err.Error()); rerr != nil {
		log.WarnContext(ctx, "enrich: could not reschedule; the lease will expire", "err", rerr)
	}
}

// backoff is 1m, 2m, 4m … capped at interval, with ±10% jitter.
func backoff(attempt int, interval time.Duration) time.Duration {
	d := time.Minute
	for i := 1; i < attempt && d < interval; i++ {
		d *= 2
	}
	d = min(d, interval)
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// check asks each source. A source's failure is part of the result; next
// is sooner than the interval when a source failed.
func (w *Worker) check(ctx context.Context, t store.EnrichTarget, j store.Job) (store.Enrichment, time.Time) {
	it := t.Item
	var e store.Enrichment
	// One flag per source: the sources run at once.
	var registryFailed, githubFailed bool
	next := w.Now().Add(w.Interval)
	var wg sync.WaitGroup
	if w.Registry != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev *inventory.RegistryFacts
			if it.Registry != nil && it.Registry.State == inventory.StateOK {
				prev = it.Registry
			}
			// The API validated the patterns; a row another writer
			// left unparseable is this source's error, not a crash.
			filter, err := tagver.CompileFilter(it.TagInclude, it.TagExclude)
			var facts inventory.RegistryFacts
			if err == nil {
				w.source(ctx, "registry check", []attribute.KeyValue{attribute.String("enrich.image", it.ImageNormalized)},
					func(ctx context.Context) error {
						facts, err = w.Registry.Check(ctx, it.ImageNormalized, prev, filter)
						return err
					})
			}
			now := w.Now().UTC()
			if err != nil {
				facts = inventory.RegistryFacts{State: inventory.StateError, Error: err.Error()}
				if prev != nil { // keep what we knew, say it could not be refreshed
					facts = *prev
					facts.State, facts.Error = inventory.StateError, err.Error()
				}
				registryFailed = true
			}
			facts.CheckedAt = &now
			e.Registry = &facts
		}()
	}
	var ghPause time.Time
	repo, isGitHub := github.ParseRepo(it.SourceURL)
	if w.GitHub != nil && isGitHub {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev *github.State
			if len(t.GitHubState) > 0 {
				prev = new(github.State)
				if json.Unmarshal(t.GitHubState, prev) != nil {
					prev = nil
				}
			}
			var st github.State
			var err error
			w.source(ctx, "github check", []attribute.KeyValue{attribute.String("enrich.repository", repo)},
				func(ctx context.Context) error {
					st, err = w.GitHub.Check(ctx, repo, prev)
					return err
				})
			var rl *github.RateLimitedError
			switch {
			case errors.As(err, &rl):
				ghPause = rl.Until // keep the facts; nothing failed
			case err != nil:
				now := w.Now().UTC()
				f := inventory.GitHubFacts{State: inventory.StateError, Error: err.Error(), CheckedAt: &now}
				if prev != nil && !errors.Is(err, github.ErrNotFound) {
					f = prev.Facts
					f.State, f.Error, f.CheckedAt = inventory.StateError, err.Error(), &now
				}
				e.GitHub = &f
				githubFailed = true
			default:
				e.GitHub = &st.Facts
				e.GitHubState, _ = json.Marshal(st)
			}
		}()
	} else if !isGitHub {
		e.ClearGitHub = true
	}
	if w.Links != nil {
		urls := append([]string{}, it.DocsURLs...)
		if it.SourceURL != "" {
			urls = append(urls, it.SourceURL)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.source(ctx, "link check", []attribute.KeyValue{attribute.Int("enrich.links", len(urls))},
				func(ctx context.Context) error {
					e.Links = w.Links.CheckAll(ctx, urls)
					return nil
				})
			if e.Links == nil {
				e.Links = []inventory.LinkResult{}
			}
		}()
	}
	wg.Wait()
	if registryFailed || githubFailed {
		e.Failed = true
		next = w.Now().Add(backoff(j.Attempts, w.Interval))
	}
	if !ghPause.IsZero() && ghPause.Before(next) {
		next = ghPause.Add(time.Duration(rand.IntN(30)) * time.Second)
	}
	return e, next
}
