package collector

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Self-metric names. They are written once here for every source.
const (
	metricQueryDuration = "persistence_exporter_query_duration_seconds"
	metricQueryErrors   = "persistence_exporter_query_errors_total"
	metricQueryAge      = "persistence_exporter_query_result_age_seconds"
	metricQueryEnabled  = "persistence_exporter_query_enabled"
	metricProbeDuration = "persistence_exporter_probe_duration_seconds"
	metricTargetInfo    = "persistence_exporter_target_info"
)

var selfHelp = map[string]string{
	metricQueryDuration: "How long the latest execution of the query took.",
	metricQueryErrors:   "Executions of the query that failed or did not finish before the scrape deadline.",
	metricQueryAge:      "Age of the query result served in this scrape (0 for a new execution; above 0 when served from the store within its TTL).",
	metricQueryEnabled:  "1 when the query applies to the target's version, role and extensions, 0 when it is skipped.",
	metricProbeDuration: "How long the target's probe (connect, version and role check) took.",
	metricTargetInfo:    "What the probe found (value 1): the kind of target, its version number and its role.",
}

// kindSelf names the self-metrics that the established exporter of a kind writes under names
// of its own, which community dashboards and alerts select on.
type kindSelf struct {
	// lastScrapeError is 1 when the target's last gather had an error (the target was down
	// or a query failed), else 0; lastScrapeDuration is how long that gather took.
	lastScrapeError, lastScrapeDuration string
	// versionInfo has the value 1 and the label version: the version as the server reports
	// it.
	versionInfo string
}

var kindSelfMetrics = map[string]kindSelf{
	// postgres_exporter's, used by postgres-mixin and awesome-prometheus-alerts
	queries.SourcePostgres: {lastScrapeError: "pg_exporter_last_scrape_error", lastScrapeDuration: "pg_exporter_last_scrape_duration_seconds"},
	// pgbouncer_exporter's: SHOW VERSION as it answers ("PgBouncer 1.18.0")
	queries.SourcePgbouncer: {versionInfo: "pgbouncer_version_info"},
}

var (
	lastScrapeErrorHelp    = "Whether the last scrape of the target had an error (1: the target was down or a query failed) or not (0)."
	lastScrapeDurationHelp = "How long the last scrape of the target took: its probe and every query, run or served from the store."
	versionInfoHelp        = "The server's version as it reports it, in the label version; the value is 1."
	versionLabel           = []string{"version"}
)

// A scrape builds the exposition's metric families directly, rather than through
// prometheus.Registry: on a large catalog a scrape carries ten thousand series, and const
// metrics with the registry's consistency checks cost several times the work. The engine
// guarantees what the registry would check: one type and label set per name (validated when
// packs load), no duplicate series (rows with repeated label values are dropped).

// families collects the metric families of one scrape.
type families struct {
	byName map[string]*dto.MetricFamily
}

func newFamilies() *families { return &families{byName: map[string]*dto.MetricFamily{}} }

// family returns the family of a name, creating it; nil when the name is taken by a family of
// another type (a dynamic metric name colliding with a fixed one).
func (f *families) family(name, help string, typ dto.MetricType) *dto.MetricFamily {
	mf, ok := f.byName[name]
	if !ok {
		mf = &dto.MetricFamily{Name: &name, Help: &help, Type: &typ}
		f.byName[name] = mf
	}
	if mf.GetType() != typ {
		return nil
	}
	return mf
}

// sample adds one sample.
func (f *families) sample(name, help string, typ dto.MetricType, labels []*dto.LabelPair, v float64) {
	if mf := f.family(name, help, typ); mf != nil {
		mf.Metric = append(mf.Metric, newMetric(typ, labels, v))
	}
}

// sorted returns the families in name order.
func (f *families) sorted() []*dto.MetricFamily {
	out := make([]*dto.MetricFamily, 0, len(f.byName))
	for _, mf := range f.byName {
		out = append(out, mf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out
}

func newMetric(typ dto.MetricType, labels []*dto.LabelPair, v float64) *dto.Metric {
	m := &dto.Metric{Label: labels}
	switch typ {
	case dto.MetricType_COUNTER:
		m.Counter = &dto.Counter{Value: &v}
	case dto.MetricType_UNTYPED:
		m.Untyped = &dto.Untyped{Value: &v}
	default:
		m.Gauge = &dto.Gauge{Value: &v}
	}
	return m
}

func dtoType(t queries.MetricType) dto.MetricType {
	switch t {
	case queries.Counter:
		return dto.MetricType_COUNTER
	case queries.Untyped:
		return dto.MetricType_UNTYPED
	}
	return dto.MetricType_GAUGE
}

// labelPairs makes label pairs, sorted by name as Prometheus' client libraries write them,
// with the target's when the exposition carries it.
func labelPairs(target string, withTarget bool, names []string, values ...string) []*dto.LabelPair {
	out := make([]*dto.LabelPair, 0, len(names)+1)
	if withTarget {
		out = append(out, &dto.LabelPair{Name: &targetLabel, Value: &target})
	}
	for i := range names {
		out = append(out, &dto.LabelPair{Name: &names[i], Value: &values[i]})
	}
	if len(out) > 1 {
		sort.Slice(out, func(i, j int) bool { return *out[i].Name < *out[j].Name })
	}
	return out
}

var targetLabel = "target"

// scrapeGatherer is a prometheus.Gatherer for one HTTP request: it gathers its targets with
// the request's context, so the scrape deadline bounds every query.
type scrapeGatherer struct {
	ctx        context.Context
	engine     *Engine
	targets    []*Target
	withTarget bool // add the target label (/metrics); /probe leaves it out
	extra      prometheus.Gatherer
}

func (g *scrapeGatherer) Gather() ([]*dto.MetricFamily, error) {
	f := newFamilies()
	for _, snap := range g.engine.GatherAll(forScrape(g.ctx), g.targets) {
		g.engine.emit(f, snap, g.withTarget)
	}
	out := f.sorted()
	if g.extra == nil {
		return out, nil
	}
	extra, err := g.extra.Gather()
	out = append(out, extra...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, err
}

var (
	upHelp     = "Whether the last probe of the target succeeded (1) or not (0)."
	queryLabel = []string{"query"}
	infoLabels = []string{"kind", "version", "role"}
)

// emit writes one snapshot as metrics.
func (e *Engine) emit(f *families, snap *Snapshot, withTarget bool) {
	t := snap.Target
	gauge := dto.MetricType_GAUGE
	up := 0.0
	if snap.Up {
		up = 1
	}
	targetOnly := labelPairs(t.Name, withTarget, nil)
	f.sample(t.UpMetric, upHelp, gauge, targetOnly, up)
	f.sample(metricProbeDuration, selfHelp[metricProbeDuration], gauge, targetOnly, snap.ProbeDuration.Seconds())
	ks := kindSelfMetrics[t.Kind]
	if ks.lastScrapeError != "" {
		failed := 0.0
		if snap.Failed() {
			failed = 1
		}
		f.sample(ks.lastScrapeError, lastScrapeErrorHelp, gauge, targetOnly, failed)
		f.sample(ks.lastScrapeDuration, lastScrapeDurationHelp, gauge, targetOnly, snap.Duration.Seconds())
	}
	if !snap.Up {
		return
	}
	if ks.versionInfo != "" && snap.Info.VersionText != "" {
		f.sample(ks.versionInfo, versionInfoHelp, gauge, labelPairs(t.Name, withTarget, versionLabel, snap.Info.VersionText), 1)
	}
	f.sample(metricTargetInfo, selfHelp[metricTargetInfo], gauge,
		labelPairs(t.Name, withTarget, infoLabels, t.Kind, strconv.Itoa(snap.Info.Version), string(snap.Info.Role)), 1)
	for _, sk := range snap.Skipped {
		f.sample(metricQueryEnabled, selfHelp[metricQueryEnabled], gauge, labelPairs(t.Name, withTarget, queryLabel, sk.Query.Name), 0)
	}
	for _, r := range snap.Results {
		q := r.Query
		ql := labelPairs(t.Name, withTarget, queryLabel, q.Name)
		f.sample(metricQueryEnabled, selfHelp[metricQueryEnabled], gauge, ql, 1)
		f.sample(metricQueryErrors, selfHelp[metricQueryErrors], dto.MetricType_COUNTER, ql, float64(e.store.Errors(key(t, q))))
		if r.Err != nil {
			if last := e.store.Last(key(t, q)); last != nil && last.Duration > 0 {
				f.sample(metricQueryDuration, selfHelp[metricQueryDuration], gauge, ql, last.Duration.Seconds())
			}
			continue
		}
		f.sample(metricQueryDuration, selfHelp[metricQueryDuration], gauge, ql, r.Duration.Seconds())
		age := 0.0
		if r.Cached {
			age = time.Since(r.Started).Seconds()
		}
		f.sample(metricQueryAge, selfHelp[metricQueryAge], gauge, ql, age)
		for _, rf := range e.rendered(t, r, snap.Info.Version, withTarget) {
			if len(rf.metrics) == 0 {
				continue // an empty family is not valid exposition
			}
			if mf := f.family(rf.name, rf.help, rf.typ); mf != nil {
				mf.Metric = append(mf.Metric, rf.metrics...)
			}
		}
	}
}

// renderedFamily is what one result contributes to one metric family.
type renderedFamily struct {
	name, help string
	typ        dto.MetricType
	metrics    []*dto.Metric
}

// rendering caches the samples of a stored result: while a result is served from the store
// (within its TTL) its samples are the same at every scrape, and are built once.
type rendering struct {
	rows       *queries.Rows
	withTarget bool
	n, version int
	families   []renderedFamily
}

// rendered returns the samples of a result, from the cache when it holds this result.
func (e *Engine) rendered(t *Target, r *Result, version int, withTarget bool) []renderedFamily {
	k := renderKey{key(t, r.Query), withTarget}
	n := t.topN(r.Query)
	e.mu.Lock()
	c := e.renderings[k]
	e.mu.Unlock()
	if c != nil && c.rows == r.Rows && c.n == n && c.version == version {
		return c.families
	}
	fams := e.renderRows(t, r, version, withTarget)
	e.mu.Lock()
	e.renderings[k] = &rendering{rows: r.Rows, withTarget: withTarget, n: n, version: version, families: fams}
	e.mu.Unlock()
	return fams
}

type renderKey struct {
	store      string
	withTarget bool
}

// renderRows turns result rows into samples. A row that repeats the label values of an
// earlier row is dropped (two equal series would make the exposition invalid).
func (e *Engine) renderRows(t *Target, r *Result, version int, withTarget bool) []renderedFamily {
	q, rows := r.Query, r.Rows
	idx := make(map[string]int, len(rows.Columns))
	for i, c := range rows.Columns {
		idx[c] = i
	}
	labelIdx := make([]int, len(q.Labels))
	for i, l := range q.Labels {
		labelIdx[i] = idx[l]
	}
	// the metrics of this server version, and (postgres_exporter packs) the unlisted columns
	type out struct {
		m   *queries.Metric
		col int
		fam int // index in fams; -1 when each row names its metric
	}
	var (
		outs  []out
		fams  []renderedFamily
		byNam = map[string]int{}
	)
	famOf := func(name, help string, typ dto.MetricType) int {
		if i, ok := byNam[name]; ok {
			return i
		}
		fams = append(fams, renderedFamily{name: name, help: help, typ: typ})
		byNam[name] = len(fams) - 1
		return len(fams) - 1
	}
	for i := range q.Metrics {
		m := &q.Metrics[i]
		if !m.InVersion(version) {
			continue
		}
		o := out{m: m, col: idx[m.Column], fam: -1}
		if q.MetricName == nil {
			o.fam = famOf(m.Name, m.Help, dtoType(m.Type))
		}
		outs = append(outs, o)
	}
	if q.ExportUnlisted {
		listed := map[string]bool{}
		for _, c := range q.Columns {
			listed[c.Name] = true
		}
		for i, c := range rows.Columns {
			if !listed[c] {
				m := &queries.Metric{Name: q.Name + "_" + c, Help: "Unknown metric from " + q.Name, Type: queries.Untyped, Column: c, Scale: 1}
				outs = append(outs, out{m, i, famOf(m.Name, m.Help, dto.MetricType_UNTYPED)})
			}
		}
	}
	nameCol := -1
	if q.MetricName != nil {
		nameCol = idx[q.MetricName.Column]
	}
	seen := make(map[string]bool, rows.Len())
	dropped := 0
	values := make([]string, len(labelIdx))
	for _, ri := range topRows(rows, q, idx, t.topN(q)) {
		for i, ci := range labelIdx {
			values[i] = labelValue(rows.Value(ri, ci))
		}
		name := ""
		if nameCol >= 0 {
			if name = q.MetricName.For(labelValue(rows.Value(ri, nameCol))); name == "" {
				continue
			}
		}
		k := name + "\xff" + strings.Join(values, "\xff")
		if seen[k] {
			dropped++
			continue
		}
		seen[k] = true
		var labels []*dto.LabelPair // one slice for all the samples of the row
		for _, o := range outs {
			v, ok := metricValue(o.m, rows.Value(ri, o.col))
			if !ok {
				continue
			}
			if labels == nil {
				labels = labelPairs(t.Name, withTarget, q.Labels, slices.Clone(values)...)
			}
			fi := o.fam
			if fi < 0 {
				fi = famOf(name, o.m.Help, dtoType(queries.ExposedType(name, o.m.Type)))
			}
			fams[fi].metrics = append(fams[fi].metrics, newMetric(fams[fi].typ, labels, v))
		}
	}
	if dropped > 0 {
		e.logOnce(t.Name+"\x00dup\x00"+q.Name, "query returned rows with the same label values; kept the first of each",
			"target", t.Name, "query", q.Name, "dropped", dropped)
	}
	return fams
}

// topRows returns the indexes of the rows the metrics carry: all of them, or the n with the
// largest Top.By value (rows without a value last), in result order otherwise.
func topRows(rows *queries.Rows, q *queries.Query, idx map[string]int, n int) []int {
	all := make([]int, rows.Len())
	for i := range all {
		all[i] = i
	}
	if n <= 0 || n >= len(all) || q.Top == nil {
		return all
	}
	by := idx[q.Top.By]
	key := make([]float64, len(all))
	for i := range all {
		v, ok := rows.Number(i, by)
		if !ok {
			v = math.Inf(-1)
		}
		key[i] = v
	}
	sort.SliceStable(all, func(a, b int) bool { return key[all[a]] > key[all[b]] })
	all = all[:n]
	sort.Ints(all)
	return all
}

func labelValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano)
	default:
		return fmt.Sprint(v)
	}
}

// metricValue converts a column value to a sample value; false means no sample (NULL, or a
// value that is not a number).
func metricValue(m *queries.Metric, v any) (float64, bool) {
	var f float64
	switch v := v.(type) {
	case nil:
		return 0, false
	case float64:
		f = v
	case int64:
		f = float64(v)
	case bool:
		if v {
			f = 1
		}
	case time.Time:
		if v.IsZero() {
			return 0, false
		}
		f = float64(v.UnixNano()) / 1e9
	case time.Duration:
		f = v.Seconds()
	case string:
		switch {
		case m.Mapping != nil:
			mv, ok := m.Mapping[v]
			if !ok {
				return 0, false
			}
			return mv * m.Scale, true
		case m.Milliseconds:
			d, err := time.ParseDuration(v)
			if err != nil {
				return 0, false
			}
			return float64(d) / float64(time.Millisecond) * m.Scale, true
		}
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false
		}
		f = p
	default:
		return 0, false
	}
	if m.Milliseconds {
		// sources hand over durations and intervals in seconds
		f *= 1000
	}
	if math.IsNaN(f) {
		return 0, false
	}
	return f * m.Scale, true
}
