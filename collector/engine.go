// Package collector gathers query results from targets and turns them into Prometheus
// metrics. It is generic: what a query means to a server is the business of a Source.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Source runs queries on one target: see kind.Source, where the source kinds find it.
type Source = kind.Source

// Scheduler is implemented by a source that queues queries on its own connections (lanes
// that keep a connection for cheap queries however many slow ones wait): the engine then
// starts every query of a gather at once, so that a query stuck in the source never holds
// one of the gather's Parallel workers that the others need.
type Scheduler interface {
	SchedulesQueries()
}

// Target is one watched server.
type Target struct {
	Name string
	Kind string // the source kind, e.g. queries.SourcePostgres
	// UpMetric is the name of the target's up gauge, as the established exporter names it
	// (pg_up for PostgreSQL).
	UpMetric string
	Source   Source
	Queries  []*queries.Query
	// Timeout bounds a probe and a query that sets none.
	Timeout time.Duration
	// Parallel is how many queries run at once on the target (its connection cap).
	Parallel int
	// TopN overrides the Top.N of queries, by query name.
	TopN map[string]int
	// Cluster names the deployment the target belongs to (configured; may be empty), and
	// Address describes the target for people: neither is read by the engine.
	Cluster, Address string
}

// topN is how many rows of q the target's metrics carry; 0 means all.
func (t *Target) topN(q *queries.Query) int {
	if n, ok := t.TopN[q.Name]; ok {
		return n
	}
	if q.Top != nil {
		return q.Top.N
	}
	return 0
}

// Skip records a query that was not sent, and why.
type Skip struct {
	Query  *queries.Query
	Reason string
}

// Snapshot is one gather of one target.
type Snapshot struct {
	Target        *Target
	At            time.Time
	Up            bool
	ProbeErr      error
	ProbeDuration time.Duration
	// Duration is how long the whole gather took: the probe and every query, run or served
	// from the store.
	Duration time.Duration
	Info     queries.ServerInfo
	Results  []*Result // in the order of Target.Queries, skipped ones left out
	Skipped  []Skip
}

// Failed reports whether the gather had an error: the target was down, or a query failed or
// did not finish before the scrape deadline.
func (s *Snapshot) Failed() bool {
	if !s.Up {
		return true
	}
	for _, r := range s.Results {
		if r.Err != nil {
			return true
		}
	}
	return false
}

// Engine gathers targets through the shared results store.
type Engine struct {
	Targets []*Target
	store   *Store
	probes  share.Flight[queries.ServerInfo]
	log     *slog.Logger

	// TTLCap, when set, caps the TTL of every query (0: every query runs at every scrape).
	TTLCap *time.Duration

	mu         sync.Mutex
	lastState  map[string]string // per target or target/query: the last error logged, "" when fine
	renderings map[renderKey]*rendering
	byName     map[string]*Target
}

// NewEngine makes an engine over targets.
func NewEngine(targets []*Target, logger *slog.Logger) *Engine {
	e := &Engine{Targets: targets, store: NewStore(), log: logger, lastState: map[string]string{},
		byName: map[string]*Target{}, renderings: map[renderKey]*rendering{}}
	for _, t := range targets {
		e.byName[t.Name] = t
	}
	return e
}

// Target returns the target called name, or nil.
func (e *Engine) Target(name string) *Target { return e.byName[name] }

// Store returns the engine's results store.
func (e *Engine) Store() *Store { return e.store }

// Close closes every source.
func (e *Engine) Close() {
	for _, t := range e.Targets {
		t.Source.Close()
	}
}

func key(t *Target, q *queries.Query) string { return t.Name + "\x00" + q.Name }

type scrapeKey struct{}

// forScrape marks a gather as a scrape's: queries whose statements choose their top rows
// (Top.Pushdown) read only the rows the metrics carry. Other gathers (the advisor's) read
// every row.
func forScrape(ctx context.Context) context.Context { return context.WithValue(ctx, scrapeKey{}, true) }

// Gather probes t and collects every query that applies to it, from the store when fresh.
// It returns when all are in or ctx ends; queries still running then are reported as errors
// in this snapshot and finish in the background.
//
// The gather is a scope of its own (share.Gather): the probe and the queries run in it, what
// they share dies with it. Another gather of t, at the same time, shares results with this one
// through the store only.
func (e *Engine) Gather(ctx context.Context, t *Target) *Snapshot { return e.GatherOnly(ctx, t, nil) }

// GatherOnly is Gather for the queries of t that want accepts (nil: all): the advisor's
// gathers ask for what its checks read, and leave the rest to the scrapes. A query left out
// is neither a result nor a skip of the snapshot.
func (e *Engine) GatherOnly(ctx context.Context, t *Target, want func(*queries.Query) bool) *Snapshot {
	snap := &Snapshot{Target: t, At: time.Now()}
	defer func() { snap.Duration = time.Since(snap.At) }()
	g := share.NewGather()
	defer g.End()
	ctx = share.WithGather(ctx, g)
	if dl, ok := ctx.Deadline(); ok {
		ctx = queries.WithScrapeDeadline(ctx, dl)
	}
	start := time.Now()
	info, err := e.probes.Do(ctx, t.Name, t.Timeout, t.Source.Probe)
	snap.ProbeDuration = time.Since(start)
	e.noteState(t.Name, err, func(msg string) {
		e.log.Error("target is down", "target", t.Name, "kind", t.Kind, "err", msg)
	}, func() {
		e.log.Info("target is up", "target", t.Name, "kind", t.Kind, "version", info.Version, "role", info.Role)
	})
	if err != nil {
		snap.ProbeErr = err
		return snap
	}
	snap.Up, snap.Info = true, info

	type job struct {
		i    int
		q    *queries.Query
		body queries.Body
	}
	var jobs []job
	for _, q := range t.Queries {
		if want != nil && !want(q) {
			continue
		}
		body, skip, missing := q.Plan(info)
		if skip != "" {
			snap.Skipped = append(snap.Skipped, Skip{Query: q, Reason: skip})
			if len(missing) > 0 {
				e.logOnce(t.Name+"\x00skip\x00"+q.Name, "query skipped: the server lacks what it needs",
					"target", t.Name, "query", q.Name, "missing", strings.Join(missing, ", "))
			}
			continue
		}
		jobs = append(jobs, job{len(jobs), q, body})
	}
	snap.Results = make([]*Result, len(jobs))
	scrape := ctx.Value(scrapeKey{}) != nil
	parallel := max(t.Parallel, 1)
	if _, ok := t.Source.(Scheduler); ok {
		parallel = len(jobs)
	}
	next := make(chan job)
	var wg sync.WaitGroup
	for range min(parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				timeout := j.q.Timeout
				if timeout == 0 {
					timeout = t.Timeout
				}
				ttl := j.q.TTL
				if e.TTLCap != nil {
					ttl = min(ttl, *e.TTLCap)
				}
				run := func(ctx context.Context) (*queries.Rows, error) {
					rows, err := t.Source.Run(ctx, j.q, j.body)
					if err == nil {
						err = checkColumns(j.q, rows, info.Version)
					}
					return rows, err
				}
				if scrape && j.q.PushesDownTop() {
					// only the rows the metrics carry; full rows are for the advisor's gathers
					qctx := queries.WithRowLimit(ctx, t.topN(j.q))
					snap.Results[j.i] = e.store.GetPartial(qctx, key(t, j.q), j.q, ttl, timeout, run)
				} else {
					snap.Results[j.i] = e.store.Get(ctx, key(t, j.q), j.q, ttl, timeout, run)
				}
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	for _, r := range snap.Results {
		k := t.Name + "\x00" + r.Query.Name
		e.noteState(k, r.Err, func(msg string) {
			e.log.Warn("query failed", "target", t.Name, "query", r.Query.Name, "err", msg)
		}, func() {
			e.log.Info("query works again", "target", t.Name, "query", r.Query.Name)
		})
	}
	return snap
}

// checkColumns makes sure every column the query maps is in the result: a column renamed in
// a new server version must fail loudly, not vanish.
func checkColumns(q *queries.Query, rows *queries.Rows, version int) error {
	have := make(map[string]bool, len(rows.Columns))
	for _, c := range rows.Columns {
		have[c] = true
	}
	var missing []string
	for _, c := range q.Columns {
		if c.Usage != queries.UsageDiscard && c.InVersion(version) && !have[c.Name] {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the result has no column %s (it has %s)", strings.Join(missing, ", "), strings.Join(rows.Columns, ", "))
	}
	return nil
}

// noteState logs a transition only: the first failure (or a new error text), and the
// recovery. A target that stays down does not flood the log.
func (e *Engine) noteState(k string, err error, failed func(msg string), recovered func()) {
	msg := ""
	if err != nil {
		msg = err.Error()
		if errors.Is(err, share.ErrDeadline) {
			msg = "scrape deadline reached before it finished"
		}
	}
	e.mu.Lock()
	prev, seen := e.lastState[k]
	e.lastState[k] = msg
	e.mu.Unlock()
	switch {
	case msg != "" && msg != prev:
		failed(msg)
	case msg == "" && seen && prev != "":
		recovered()
	}
}

func (e *Engine) logOnce(k, msg string, args ...any) {
	e.mu.Lock()
	_, seen := e.lastState[k]
	e.lastState[k] = "logged"
	e.mu.Unlock()
	if !seen {
		e.log.Info(msg, args...)
	}
}

// GatherAll gathers every target in parallel.
func (e *Engine) GatherAll(ctx context.Context, targets []*Target) []*Snapshot {
	snaps := make([]*Snapshot, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snaps[i] = e.Gather(ctx, t)
		}()
	}
	wg.Wait()
	return snaps
}
