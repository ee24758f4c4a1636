package config

import (
	"slices"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
)

func (v *validator) advisor(c *Config) {
	a := &c.Advisor
	path := []any{"advisor"}
	th := []any{"advisor", "thresholds"}
	positive := func(p []any, key string, d time.Duration) {
		if d <= 0 {
			v.errorf(append(append([]any{}, p...), key), "%s must be positive, not %s", key, d)
		}
	}
	positive(path, "interval", a.Interval)
	t := a.Thresholds
	positive(th, "slow_query_mean", t.SlowQueryMean)
	positive(th, "slow_query_window", t.SlowQueryWindow)
	positive(th, "replica_lag", t.ReplicaLag)
	positive(th, "long_transaction", t.LongTransaction)
	positive(th, "long_transaction_critical", t.LongTransactionCritical)
	positive(th, "idle_in_transaction", t.IdleInTransaction)
	if t.UnusedIndexMinWindow < 0 {
		v.errorf(append(th, "unused_index_min_window"), "unused_index_min_window must not be negative")
	}
	for _, r := range []struct {
		key string
		v   float64
	}{
		{"top_statement_share", t.TopStatementShare}, {"bloat_warning", t.BloatWarning}, {"bloat_critical", t.BloatCritical},
		{"connections_warning", t.ConnectionsWarning}, {"connections_critical", t.ConnectionsCritical},
		{"sequence_warning", t.SequenceWarning}, {"sequence_critical", t.SequenceCritical},
	} {
		if r.v <= 0 || r.v > 1 {
			v.errorf(append(th, r.key), "%s is a share: want a number above 0 and at most 1, not %g", r.key, r.v)
		}
	}
	for _, p := range [][3]any{
		{"bloat", t.BloatWarning, t.BloatCritical}, {"connections", t.ConnectionsWarning, t.ConnectionsCritical},
		{"sequence", t.SequenceWarning, t.SequenceCritical},
	} {
		w, c := p[1].(float64), p[2].(float64)
		if w > 0 && w <= 1 && c > 0 && c <= 1 && w > c { // an invalid share is reported above
			v.errorf(append(th, p[0].(string)+"_critical"), "%s_critical must not be below %s_warning", p[0], p[0])
		}
	}
	if t.LongTransactionCritical < t.LongTransaction {
		v.errorf(append(th, "long_transaction_critical"), "long_transaction_critical must not be below long_transaction")
	}
	if t.SlowQueryMinCalls < 1 {
		v.errorf(append(th, "slow_query_min_calls"), "slow_query_min_calls must be at least 1")
	}
	if a.MaxFindingsPerCheck < 0 {
		v.errorf(append(path, "max_findings_per_check"), "max_findings_per_check must not be negative (0: no limit)")
	}
	known := map[string]bool{}
	for _, ch := range advisor.DefaultChecks() {
		known[ch.ID()] = true
	}
	for i, id := range a.Disable {
		if !known[id] {
			ids := make([]string, 0, len(known))
			for k := range known {
				ids = append(ids, k)
			}
			slices.Sort(ids)
			v.errorf(append(append(path, "disable"), i), "unknown check %q (checks: %v)", id, ids)
		}
	}
}
