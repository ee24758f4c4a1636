package advisor

import (
	"sync"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
)

// History is what the advisor remembers between runs: statement counters, to compute rates
// over a window instead of totals since the last statistics reset, when each index
// appeared, and the values the forecasts fit. It lives in memory: a restart starts a new
// window. Checks only read it (it is one Past; with advisor.prometheus set, the runner reads
// the windows from Prometheus and falls back to it); the runner records each run after the
// checks ran.
type History struct {
	mu         sync.Mutex
	started    time.Time
	statements map[string][]statementSample // by target, oldest first
	firstSeen  map[string]time.Time         // by index key
	subs       subscriptionHistory          // checks_jobs.go
	series     map[SeriesKey][]seriesSample // forecast series (past.go), oldest first
}

type statementSample struct {
	at    time.Time
	stats map[string]facts.Statement
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{statements: map[string][]statementSample{}, firstSeen: map[string]time.Time{}}
}

// Record keeps what a run saw; samples older than keep are dropped.
func (h *History) Record(s *facts.Snapshot, keep time.Duration) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started.IsZero() {
		h.started = s.At
	}
	h.subs.record(s, keep)
	seen := map[string]bool{}
	for _, t := range s.Targets {
		for _, ix := range t.Indexes {
			k := IndexKey(t, ix.Relation)
			seen[k] = true
			if _, ok := h.firstSeen[k]; !ok {
				h.firstSeen[k] = s.At
			}
		}
	}
	for k := range h.firstSeen { // a dropped index that comes back is new again
		if !seen[k] {
			delete(h.firstSeen, k)
		}
	}
	for _, t := range s.Targets {
		if ok, _ := t.Available("pg_stat_statements_advisor"); !ok {
			continue
		}
		stats := map[string]facts.Statement{}
		for _, st := range t.Statements {
			stats[st.Key()] = st
		}
		samples := append(h.statements[t.Name], statementSample{at: s.At, stats: stats})
		for len(samples) > 1 && s.At.Sub(samples[0].at) > keep {
			samples = samples[1:]
		}
		h.statements[t.Name] = samples
	}
}

// Baseline returns the oldest statement sample of a target taken within window before at,
// and its time; ok is false when there is none.
func (h *History) Baseline(target string, at time.Time, window time.Duration) (map[string]facts.Statement, time.Time, bool) {
	if h == nil {
		return nil, time.Time{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.statements[target] {
		if !s.at.Before(at) {
			break
		}
		if at.Sub(s.at) <= window {
			return s.stats, s.at, true
		}
	}
	return nil, time.Time{}, false
}

// Appeared returns when an index appeared, if the advisor saw it appear: an index that was
// there at the advisor's first run may be older than anything it knows, and gives false.
func (h *History) Appeared(key string) (time.Time, bool) {
	if h == nil {
		return time.Time{}, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.firstSeen[key]
	if !ok || !t.After(h.started) {
		return time.Time{}, false
	}
	return t, true
}

// IndexKey identifies an index of a target's cluster across runs.
func IndexKey(t *facts.Target, r facts.Relation) string {
	id := t.SystemID
	if id == "" {
		id = t.Name
	}
	return id + "\x00" + r.Database + "\x00" + r.Schema + "\x00" + r.Name
}
