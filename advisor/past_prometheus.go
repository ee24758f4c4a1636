package advisor

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// PrometheusReader is what the runner reads from Prometheus (a *promhistory.Client).
type PrometheusReader interface {
	Query(ctx context.Context, expr string, at time.Time) ([]promhistory.Value, error)
	Range(ctx context.Context, expr string, from, to time.Time, step time.Duration) ([]promhistory.Series, error)
}

// The metrics the windows read: the counters the default packs export
// (queries/packs/postgres_statements.yaml, postgres_tables.yaml). Every series carries the
// target label (/metrics adds it, /probe gets it from /sd or the scrape configuration).
const (
	metricStatementCalls   = "pg_stat_statements_calls_total"
	metricStatementSeconds = "pg_stat_statements_seconds_total"
	metricIndexScans       = "pg_stat_user_indexes_idx_scan_total"
)

// prometheusPast is what the runner read from Prometheus before the checks ran: statement
// increases over slow_query_window, index scan increases over unused_index_min_window with
// the indexes whose series covered all of it, and the forecast series over forecast_window.
// What it lacks (a part that failed, a target Prometheus has no series of) comes from the
// in-memory history, and Info says so.
type prometheusPast struct {
	mem *History
	at  time.Time
	cfg *Thresholds

	// statements: target -> statement key (facts.Statement.Key) -> calls, seconds over the
	// window; nil when the read failed
	statements map[string]map[string][2]float64
	// indexScans: target -> relation key -> scans over the window, for the indexes whose
	// series existed at its start; nil when the read failed
	indexScans map[string]map[string]float64
	series     map[SeriesKey]promhistory.Series

	failed      []string // what was read from memory instead, and why
	parts       int      // how many parts were asked
	failedParts int      // how many of them failed
}

// readPrometheus reads what the checks need of the past from Prometheus, for the targets of
// the snapshot that answered.
func readPrometheus(ctx context.Context, r PrometheusReader, s *facts.Snapshot, cfg *Thresholds, mem *History) *prometheusPast {
	p := &prometheusPast{mem: mem, at: s.At, cfg: cfg, series: map[SeriesKey]promhistory.Series{}}
	byKind := map[string][]string{}
	var withStatements []string
	for _, t := range s.Targets {
		if !t.Up {
			continue
		}
		byKind[t.Kind] = append(byKind[t.Kind], t.Name)
		if ok, _ := t.Available("pg_stat_statements_advisor"); ok && t.Kind == queries.SourcePostgres {
			withStatements = append(withStatements, t.Name)
		}
	}
	fail := func(part string, err error) {
		p.failed = append(p.failed, part+": "+err.Error())
		p.failedParts++
	}

	if len(withStatements) > 0 {
		p.parts++
		if st, missing, err := p.readStatements(ctx, r, withStatements, cfg.SlowQueryWindow); err != nil {
			fail("statement windows from memory", err)
		} else {
			p.statements = st
			if len(missing) > 0 {
				p.failed = append(p.failed, fmt.Sprintf("statement windows of %s from memory: Prometheus has no %s{target=...} for them", strings.Join(missing, ", "), metricStatementCalls))
			}
		}
	}
	if pgs := byKind[queries.SourcePostgres]; len(pgs) > 0 && cfg.UnusedIndexMinWindow > 0 {
		p.parts++
		if ix, err := p.readIndexScans(ctx, r, pgs, cfg.UnusedIndexMinWindow); err != nil {
			fail("index scans from the statistics alone", err)
		} else {
			p.indexScans = ix
		}
	}
	step := max(time.Second, (cfg.ForecastWindow / seriesResolution).Truncate(time.Second))
	for _, spec := range seriesSpecs {
		targets := byKind[spec.kind]
		if len(targets) == 0 {
			continue
		}
		p.parts++
		got, err := r.Range(ctx, spec.expr(targetMatcher(targets), nil), s.At.Add(-cfg.ForecastWindow), s.At, step)
		if err != nil {
			fail("forecast series "+spec.metric+" from memory", err)
			continue
		}
		for _, ser := range got {
			k := SeriesKey{Metric: spec.metric, Target: ser.Labels["target"]}
			var object []string
			for _, l := range spec.by {
				object = append(object, ser.Labels[l])
			}
			k.Object = objectKey(object...)
			ser.Name = spec.name(k)
			p.series[k] = ser
		}
	}
	return p
}

// PrometheusPast reads from Prometheus what the checks need of the past of a snapshot's
// targets, with mem behind it for what Prometheus cannot give. The runner does this before
// every run when advisor.prometheus is set; tools and tests call it directly.
func PrometheusPast(ctx context.Context, r PrometheusReader, s *facts.Snapshot, th *Thresholds, mem *History) Past {
	return readPrometheus(ctx, r, s, th, mem)
}

// targetMatcher matches the names of targets: target=~"^(a|b)$" (Prometheus anchors it).
func targetMatcher(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return "target=~" + strconv.Quote(strings.Join(quoted, "|"))
}

// readStatements reads each statement's increase of calls and seconds over the window, and
// lists the targets Prometheus has no statements of.
func (p *prometheusPast) readStatements(ctx context.Context, r PrometheusReader, targets []string, window time.Duration) (map[string]map[string][2]float64, []string, error) {
	out := map[string]map[string][2]float64{}
	for i, metric := range []string{metricStatementCalls, metricStatementSeconds} {
		vals, err := r.Query(ctx, fmt.Sprintf("max by (target, datname, user, queryid) (increase(%s{%s}[%s]))",
			metric, targetMatcher(targets), model.Duration(window)), p.at)
		if err != nil {
			return nil, nil, err
		}
		for _, v := range vals {
			t := v.Labels["target"]
			if out[t] == nil {
				out[t] = map[string][2]float64{}
			}
			k := facts.Statement{Database: v.Labels["datname"], User: v.Labels["user"], QueryID: v.Labels["queryid"]}.Key()
			pair := out[t][k]
			pair[i] = v.Value
			out[t][k] = pair
		}
	}
	var missing []string
	for _, t := range targets {
		if len(out[t]) == 0 {
			missing = append(missing, t)
			delete(out, t)
		}
	}
	return out, missing, nil
}

// readIndexScans reads each index's increase of scans over the window, keeping the indexes
// whose series existed at the window's start (the window is covered).
func (p *prometheusPast) readIndexScans(ctx context.Context, r PrometheusReader, targets []string, window time.Duration) (map[string]map[string]float64, error) {
	by := "target, datname, schemaname, indexrelname"
	sel := metricIndexScans + "{" + targetMatcher(targets) + "}"
	inc, err := r.Query(ctx, fmt.Sprintf("max by (%s) (increase(%s[%s]))", by, sel, model.Duration(window)), p.at)
	if err != nil {
		return nil, err
	}
	start, err := r.Query(ctx, fmt.Sprintf("count by (%s) (%s offset %s)", by, sel, model.Duration(window)), p.at)
	if err != nil {
		return nil, err
	}
	key := func(l map[string]string) (string, string) {
		return l["target"], relationKey(facts.Relation{Database: l["datname"], Schema: l["schemaname"], Name: l["indexrelname"]})
	}
	covered := map[[2]string]bool{}
	for _, v := range start {
		t, k := key(v.Labels)
		covered[[2]string{t, k}] = true
	}
	out := map[string]map[string]float64{}
	for _, v := range inc {
		t, k := key(v.Labels)
		if !covered[[2]string{t, k}] {
			continue
		}
		if out[t] == nil {
			out[t] = map[string]float64{}
		}
		out[t][k] = v.Value
	}
	return out, nil
}

func (p *prometheusPast) StatementWindow(t *facts.Target, now time.Time, window time.Duration) ([]facts.Statement, *Window, bool) {
	inc, ok := p.statements[t.Name]
	if !ok {
		return p.mem.StatementWindow(t, now, window)
	}
	var out []facts.Statement
	missing := 0
	for _, s := range t.Statements {
		v, ok := inc[s.Key()]
		if !ok {
			missing++
			continue
		}
		d := s
		d.Calls, d.Seconds = v[0], v[1]
		out = append(out, d)
	}
	basis := fmt.Sprintf("increase of %s and %s over slow_query_window", metricStatementCalls, metricStatementSeconds)
	if missing > 0 {
		basis += fmt.Sprintf("; %d of the statements the advisor read have no series in Prometheus (not among the top statements the pack exports) and are left out", missing)
	}
	return out, &Window{From: p.at.Add(-window), To: p.at, Basis: basis, Source: SourcePrometheus}, true
}

func (p *prometheusPast) IndexScans(t *facts.Target, ix facts.Relation) (float64, *Window, bool) {
	n, ok := p.indexScans[t.Name][relationKey(ix)]
	if !ok {
		return 0, nil, false
	}
	w := p.cfg.UnusedIndexMinWindow
	return n, &Window{From: p.at.Add(-w), To: p.at, Source: SourcePrometheus,
		Basis: fmt.Sprintf("no increase of %s over unused_index_min_window on the primary or any replica", metricIndexScans)}, true
}

func (p *prometheusPast) Appeared(key string) (time.Time, bool) { return p.mem.Appeared(key) }

func (p *prometheusPast) Series(k SeriesKey) (promhistory.Series, string, bool) {
	if s, ok := p.series[k]; ok && len(s.Samples) > 0 {
		return s, SourcePrometheus, true
	}
	return p.mem.Series(k)
}

func (p *prometheusPast) Info() HistoryInfo {
	info := HistoryInfo{Source: SourcePrometheus}
	if p.parts > 0 && p.failedParts == p.parts {
		info = p.mem.Info() // nothing came from Prometheus
	} else {
		info.Since = p.mem.Info().Since
	}
	if len(p.failed) > 0 {
		info.Fallback = "prometheus: " + strings.Join(p.failed, "; ")
	}
	return info
}

func (p *prometheusPast) memory() *History { return p.mem }

// unavailablePast is the in-memory history when Prometheus could not be asked at all.
type unavailablePast struct {
	*History
	err error
}

func (u unavailablePast) Info() HistoryInfo {
	info := u.History.Info()
	info.Fallback = "prometheus: " + u.err.Error() + "; every window from memory"
	return info
}
