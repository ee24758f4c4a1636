package advisor

import (
	"fmt"
	"sort"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
)

// statementWindow returns the counters of a target's statements over the configured window:
// what the past gives (the increase Prometheus saw, or the change since the oldest sample of
// the in-memory history within the window), else the totals since pg_stat_statements was
// last reset.
func statementWindow(c *Context, t *facts.Target) ([]facts.Statement, *Window) {
	now := c.Facts.At
	if stmts, w, ok := c.Past.StatementWindow(t, now, c.Config.Thresholds.SlowQueryWindow); ok {
		return stmts, w
	}
	w := &Window{To: now, Basis: "totals since pg_stat_statements was reset", Source: SourceStatistics}
	if r := t.StatementsReset; !r.IsZero() {
		w.From = r
	}
	return t.Statements, w
}

// sameCalls reports whether no statement ran between the baseline and now.
func sameCalls(base map[string]facts.Statement, cur []facts.Statement) bool {
	var a, b float64
	for _, s := range base {
		a += s.Calls
	}
	for _, s := range cur {
		b += s.Calls
	}
	return a == b
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func slowQueries(c *Context) []Finding {
	th := c.Config.Thresholds
	limit := th.SlowQueryMean.Seconds()
	var out []Finding
	for _, t := range c.Eligible {
		stmts, w := statementWindow(c, t)
		for _, s := range stmts {
			if s.Calls < float64(th.SlowQueryMinCalls) || s.Calls == 0 {
				continue
			}
			mean := s.Seconds / s.Calls
			if mean < limit {
				continue
			}
			sev := Warning
			if mean >= 10*limit {
				sev = Critical
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: "queryid:" + s.QueryID,
				Summary: fmt.Sprintf("statement takes %s on average over %0.f calls (threshold %s)", humanDuration(mean), s.Calls, humanDuration(limit)),
				Evidence: []Evidence{
					{"query", truncate(s.Text, 300)},
					{"database", s.Database}, {"user", s.User},
					{"calls", fmt.Sprintf("%.0f", s.Calls)},
					{"mean", humanDuration(mean)},
					{"total", humanDuration(s.Seconds)},
				},
				Window: w,
				Fix: Fix{Kind: "action", Database: s.Database,
					Text: "EXPLAIN (ANALYZE, BUFFERS) " + truncate(s.Text, 300),
					Why:  "run it with real parameters to see where the time goes; a missing-index finding on the same table names an index to try"},
			})
		}
	}
	return out
}

func topStatements(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		stmts, w := statementWindow(c, t)
		total := 0.0
		for _, s := range stmts {
			total += s.Seconds
		}
		if total <= 0 {
			continue
		}
		sort.Slice(stmts, func(i, j int) bool { return stmts[i].Seconds > stmts[j].Seconds })
		for i, s := range stmts {
			share := s.Seconds / total
			if i >= 3 || share < c.Config.Thresholds.TopStatementShare {
				break
			}
			out = append(out, Finding{
				Severity: Info, Target: t.Name, Object: "queryid:" + s.QueryID,
				Summary: fmt.Sprintf("statement takes %s of all statement time", pct(share)),
				Evidence: []Evidence{
					{"query", truncate(s.Text, 300)}, {"database", s.Database}, {"user", s.User},
					{"share", pct(share)}, {"calls", fmt.Sprintf("%.0f", s.Calls)},
					{"total", humanDuration(s.Seconds)},
					{"mean", humanDuration(s.Seconds / max(s.Calls, 1))},
				},
				Window: w,
				Fix: Fix{Kind: "action", Database: s.Database, Text: "EXPLAIN (ANALYZE, BUFFERS) " + truncate(s.Text, 300),
					Why: "the statement that costs the server most: a small gain on it is worth more than a large one elsewhere"},
			})
		}
	}
	return out
}
