package collector

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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

// scrape is a prometheus.Collector for one HTTP request: it gathers its targets with the
// request's context, so the scrape deadline bounds every query.
type scrape struct {
	ctx        context.Context
	engine     *Engine
	targets    []*Target
	withTarget bool // add the target label (/metrics); /probe leaves it out
}

// Describe sends nothing: the metrics depend on what the servers return (an unchecked
// collector).
func (s *scrape) Describe(chan<- *prometheus.Desc) {}

func (s *scrape) Collect(ch chan<- prometheus.Metric) {
	for _, snap := range s.engine.GatherAll(s.ctx, s.targets) {
		s.engine.emit(ch, snap, s.withTarget)
	}
}

type descKey struct {
	name       string
	withTarget bool
}

// desc returns the cached descriptor of a metric.
func (e *Engine) desc(name, help string, labels []string, withTarget bool) *prometheus.Desc {
	k := descKey{name, withTarget}
	if d, ok := e.descs.Load(k); ok {
		return d.(*prometheus.Desc)
	}
	if withTarget {
		labels = append([]string{"target"}, labels...)
	}
	d, _ := e.descs.LoadOrStore(k, prometheus.NewDesc(name, help, labels, nil))
	return d.(*prometheus.Desc)
}

func valueType(t queries.MetricType) prometheus.ValueType {
	switch t {
	case queries.Counter:
		return prometheus.CounterValue
	case queries.Untyped:
		return prometheus.UntypedValue
	}
	return prometheus.GaugeValue
}

// emit writes one snapshot as metrics.
func (e *Engine) emit(ch chan<- prometheus.Metric, snap *Snapshot, withTarget bool) {
	t := snap.Target
	lv := func(vals ...string) []string {
		if withTarget {
			return append([]string{t.Name}, vals...)
		}
		return vals
	}
	up := 0.0
	if snap.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(e.desc(t.UpMetric, "Whether the last probe of the target succeeded (1) or not (0).", nil, withTarget),
		prometheus.GaugeValue, up, lv()...)
	ch <- prometheus.MustNewConstMetric(e.desc(metricProbeDuration, selfHelp[metricProbeDuration], nil, withTarget),
		prometheus.GaugeValue, snap.ProbeDuration.Seconds(), lv()...)
	if !snap.Up {
		return
	}
	ch <- prometheus.MustNewConstMetric(e.desc(metricTargetInfo, selfHelp[metricTargetInfo], []string{"kind", "version", "role"}, withTarget),
		prometheus.GaugeValue, 1, lv(t.Kind, strconv.Itoa(snap.Info.Version), string(snap.Info.Role))...)
	q1 := []string{"query"}
	for _, sk := range snap.Skipped {
		ch <- prometheus.MustNewConstMetric(e.desc(metricQueryEnabled, selfHelp[metricQueryEnabled], q1, withTarget),
			prometheus.GaugeValue, 0, lv(sk.Query.Name)...)
	}
	for _, r := range snap.Results {
		q := r.Query
		ch <- prometheus.MustNewConstMetric(e.desc(metricQueryEnabled, selfHelp[metricQueryEnabled], q1, withTarget),
			prometheus.GaugeValue, 1, lv(q.Name)...)
		ch <- prometheus.MustNewConstMetric(e.desc(metricQueryErrors, selfHelp[metricQueryErrors], q1, withTarget),
			prometheus.CounterValue, float64(e.store.Errors(key(t, q))), lv(q.Name)...)
		if r.Err != nil {
			if last := e.store.Last(key(t, q)); last != nil && last.Duration > 0 {
				ch <- prometheus.MustNewConstMetric(e.desc(metricQueryDuration, selfHelp[metricQueryDuration], q1, withTarget),
					prometheus.GaugeValue, last.Duration.Seconds(), lv(q.Name)...)
			}
			continue
		}
		ch <- prometheus.MustNewConstMetric(e.desc(metricQueryDuration, selfHelp[metricQueryDuration], q1, withTarget),
			prometheus.GaugeValue, r.Duration.Seconds(), lv(q.Name)...)
		age := 0.0
		if r.Cached {
			age = time.Since(r.Started).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(e.desc(metricQueryAge, selfHelp[metricQueryAge], q1, withTarget),
			prometheus.GaugeValue, age, lv(q.Name)...)
		e.emitRows(ch, t, r, snap.Info.Version, withTarget)
	}
}

// emitRows turns result rows into samples. A row that repeats the label values of an earlier
// row is dropped (the registry would fail the whole scrape on a duplicate series).
func (e *Engine) emitRows(ch chan<- prometheus.Metric, t *Target, r *Result, version int, withTarget bool) {
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
		m    *queries.Metric
		col  int
		desc *prometheus.Desc // nil when each row names its metric
	}
	var outs []out
	for i := range q.Metrics {
		m := &q.Metrics[i]
		if !m.InVersion(version) {
			continue
		}
		o := out{m: m, col: idx[m.Column]}
		if q.MetricName == nil {
			o.desc = e.desc(m.Name, m.Help, q.Labels, withTarget)
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
				outs = append(outs, out{m, i, e.desc(m.Name, m.Help, q.Labels, withTarget)})
			}
		}
	}
	nameCol := -1
	if q.MetricName != nil {
		nameCol = idx[q.MetricName.Column]
	}
	seen := make(map[string]bool, len(rows.Values))
	base := 0
	if withTarget {
		base = 1
	}
	dropped := 0
	for _, ri := range topRows(rows, q, idx, t.topN(q)) {
		row := rows.Values[ri]
		labels := make([]string, base+len(labelIdx))
		if withTarget {
			labels[0] = t.Name
		}
		for i, ci := range labelIdx {
			labels[base+i] = labelValue(row[ci])
		}
		name := ""
		if nameCol >= 0 {
			if name = q.MetricName.For(labelValue(row[nameCol])); name == "" {
				continue
			}
		}
		k := name + "\xff" + strings.Join(labels, "\xff")
		if seen[k] {
			dropped++
			continue
		}
		seen[k] = true
		for _, o := range outs {
			v, ok := metricValue(o.m, row[o.col])
			if !ok {
				continue
			}
			desc, typ := o.desc, o.m.Type
			if desc == nil {
				desc, typ = e.desc(name, o.m.Help, q.Labels, withTarget), queries.ExposedType(name, typ)
			}
			ch <- prometheus.MustNewConstMetric(desc, valueType(typ), v, labels...)
		}
	}
	if dropped > 0 {
		e.logOnce(t.Name+"\x00dup\x00"+q.Name, "query returned rows with the same label values; kept the first of each",
			"target", t.Name, "query", q.Name, "dropped", dropped)
	}
}

// topRows returns the indexes of the rows the metrics carry: all of them, or the n with the
// largest Top.By value (rows without a value last), in result order otherwise.
func topRows(rows *queries.Rows, q *queries.Query, idx map[string]int, n int) []int {
	all := make([]int, len(rows.Values))
	for i := range all {
		all[i] = i
	}
	if n <= 0 || n >= len(all) || q.Top == nil {
		return all
	}
	by := idx[q.Top.By]
	plain := &queries.Metric{Scale: 1}
	key := make([]float64, len(rows.Values))
	for i, row := range rows.Values {
		v, ok := metricValue(plain, row[by])
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
