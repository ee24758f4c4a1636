package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Result is the outcome of one execution of a query on a target.
type Result struct {
	Query    *queries.Query
	Rows     *queries.Rows // nil on error
	Started  time.Time
	Duration time.Duration
	Err      error
	// Cached is set on the copy handed to a scrape when the result came from the store
	// instead of a new execution.
	Cached bool
	// Partial marks the rows a scrape asked for: only those its metrics carry (the query's
	// top chosen by its statement, Top.Pushdown). It serves scrapes, never the advisor.
	Partial bool
}

// Store keeps the latest result per (target, query), serves it while it is younger than the
// query's TTL, and makes concurrent requests for the same key share one execution.
type Store struct {
	mu     sync.Mutex
	last   map[string]*Result
	errors map[string]uint64
	flight share.Flight[*Result]
	now    func() time.Time
}

// NewStore returns an empty store.
func NewStore() *Store {
	return &Store{last: map[string]*Result{}, errors: map[string]uint64{}, now: time.Now}
}

// Get returns a fresh-enough stored result for key or runs run. Concurrent callers share one
// execution, which is detached from the caller's cancellation and bounded by timeout instead:
// when a scrape gives up, the execution still finishes and fills the store for the next one.
// Get itself returns when ctx ends, with an error result that wraps share.ErrDeadline.
func (s *Store) Get(ctx context.Context, key string, q *queries.Query, ttl, timeout time.Duration,
	run func(ctx context.Context) (*queries.Rows, error)) *Result {
	return s.get(ctx, key, q, ttl, timeout, false, run)
}

// GetPartial is Get for a scrape of a query whose statement chooses the rows its metrics
// carry (Top.Pushdown): a fresh stored result serves, full or partial; run's result is
// stored as partial, where it does not replace a full result that started later.
func (s *Store) GetPartial(ctx context.Context, key string, q *queries.Query, ttl, timeout time.Duration,
	run func(ctx context.Context) (*queries.Rows, error)) *Result {
	return s.get(ctx, key, q, ttl, timeout, true, run)
}

func (s *Store) get(ctx context.Context, key string, q *queries.Query, ttl, timeout time.Duration, partial bool,
	run func(ctx context.Context) (*queries.Rows, error)) *Result {
	if ttl > 0 {
		s.mu.Lock()
		r := s.last[key]
		s.mu.Unlock()
		if r != nil && r.Err == nil && s.now().Sub(r.Started) < ttl && (partial || !r.Partial) {
			c := *r
			c.Cached = true
			return &c
		}
	}
	flightKey := key
	if partial {
		flightKey += "\x00partial" // a full execution's rows serve a scrape, not the reverse
	}
	r, err := s.flight.Do(ctx, flightKey, timeout, func(ectx context.Context) (*Result, error) {
		start := s.now()
		rows, err := run(ectx)
		if err != nil && ectx.Err() != nil {
			err = fmt.Errorf("timed out after %s: %w", timeout, err)
		}
		r := &Result{Query: q, Rows: rows, Started: start, Duration: time.Since(start), Err: err, Partial: partial}
		s.mu.Lock()
		if prev := s.last[key]; !partial || prev == nil || prev.Partial || prev.Err != nil || prev.Started.Before(start) {
			s.last[key] = r
		}
		if err != nil {
			s.errors[key]++
		}
		s.mu.Unlock()
		return r, nil
	})
	if err != nil {
		// A scrape that could not wait counts as a failure of the query: its series are missing.
		s.mu.Lock()
		s.errors[key]++
		s.mu.Unlock()
		return &Result{Query: q, Started: s.now(), Err: err}
	}
	return r
}

// Errors returns how many executions of key have failed, or were given up by a scrape whose
// deadline came first, since start.
func (s *Store) Errors(key string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors[key]
}

// Last returns the latest result stored for key, or nil.
func (s *Store) Last(key string) *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[key]
}
