package advisor

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Past is what a run knows of the time before it: the windows of the windowed checks
// (statement counters over slow_query_window, index scans over unused_index_min_window) and
// the samples the forecasts are fitted on. Checks read it and nothing else of the past, so
// they stay pure functions of the facts and of this. Two implementations: the in-memory
// History, and what the runner read from Prometheus before the checks ran (prometheusPast),
// which falls back to the History where Prometheus has nothing.
type Past interface {
	// StatementWindow returns a target's statements with their counters over the window that
	// ends at now, and the window; ok is false when the source has nothing to compare with
	// (the checks then use the totals since pg_stat_statements was reset).
	StatementWindow(t *facts.Target, now time.Time, window time.Duration) (stmts []facts.Statement, w *Window, ok bool)
	// IndexScans returns the scans of an index of a target over the whole of
	// unused_index_min_window; ok is false when the source does not cover all of it.
	IndexScans(t *facts.Target, ix facts.Relation) (scans float64, w *Window, ok bool)
	// Appeared returns when an index appeared, if the advisor saw it appear (History.Appeared).
	Appeared(key string) (time.Time, bool)
	// Series returns the samples of a forecast series over forecast_window, oldest first, and
	// the source they came from (SourcePrometheus or SourceMemory).
	Series(k SeriesKey) (s promhistory.Series, source string, ok bool)
	// Info says where the windows came from, for the report.
	Info() HistoryInfo
	// memory is the in-memory history behind the source (subscription errors live there).
	memory() *History
}

// Sources of a window or a forecast.
const (
	SourcePrometheus = "prometheus"
	SourceMemory     = "memory"
	// SourceStatistics: the server's own statistics since their reset, no history needed.
	SourceStatistics = "statistics"
)

// HistoryInfo is the report's account of where the windows and forecasts came from.
type HistoryInfo struct {
	// Source is SourcePrometheus when advisor.prometheus is set and answered, else
	// SourceMemory.
	Source string `json:"source"`
	// Since is when the in-memory history starts: the advisor's first run (absent before it).
	Since time.Time `json:"since,omitzero"`
	// Fallback says why Prometheus was not (fully) used: its error, redacted. Windows it
	// could not give came from memory.
	Fallback string `json:"fallback,omitempty"`
}

// Text is the history for people: "prometheus" or "memory since 2026-11-27T08:00:00Z".
func (h HistoryInfo) Text() string {
	s := h.Source
	if h.Source == SourceMemory {
		if h.Since.IsZero() {
			s += " (this is the first run)"
		} else {
			s += " since " + h.Since.Format(time.RFC3339)
		}
	}
	if h.Fallback != "" {
		s += "; " + h.Fallback
	}
	return s
}

// SeriesKey names one forecast series: the spec it belongs to (its metric), the target, and
// the object within the target (the spec's label values joined by "\x00"; "" for a series of
// the whole target).
type SeriesKey struct {
	Metric, Target, Object string
}

// seriesSpec is a quantity the forecasts fit: a metric the exporter exports, aggregated by
// target and the labels that name an object, and how to read its current value from the
// facts (the in-memory history records that every run).
type seriesSpec struct {
	kind   string // the source kind of its targets
	metric string
	agg    string   // "sum" or "max" by (target, by...): max merges the same series scraped twice
	by     []string // the labels that name an object, beyond target
	// values reads the current value of each object of a target from its facts.
	values func(t *facts.Target) map[string]float64
}

// perObject makes a seriesSpec's values from a list of a target's facts: an object's key
// and value from each element.
func perObject[T any](list func(*facts.Target) []T, value func(T) (string, float64)) func(*facts.Target) map[string]float64 {
	return func(t *facts.Target) map[string]float64 {
		out := map[string]float64{}
		for _, e := range list(t) {
			k, v := value(e)
			out[k] = v
		}
		return out
	}
}

// expr is the PromQL of the spec for a target matcher (target="x" or target=~"...") and,
// optionally, one object's label values.
func (s seriesSpec) expr(targetMatcher string, object []string) string {
	matchers := []string{targetMatcher}
	for i, v := range object {
		matchers = append(matchers, s.by[i]+"="+strconv.Quote(v))
	}
	return fmt.Sprintf("%s by (%s) (%s{%s})", s.agg, strings.Join(append([]string{"target"}, s.by...), ", "), s.metric, strings.Join(matchers, ","))
}

// name is the PromQL of one series of the spec: what a forecast says it was fitted on.
func (s seriesSpec) name(k SeriesKey) string {
	var object []string
	if len(s.by) > 0 {
		object = strings.Split(k.Object, "\x00")
	}
	return s.expr("target="+strconv.Quote(k.Target), object)
}

// objectKey joins label values into SeriesKey.Object.
func objectKey(values ...string) string { return strings.Join(values, "\x00") }

// relationKey is the object of a relation (database, schema, name).
func relationKey(r facts.Relation) string { return objectKey(r.Database, r.Schema, r.Name) }

// The series the forecasts fit (checks_forecast.go), by metric name.
var (
	specDatabaseSize = seriesSpec{kind: queries.SourcePostgres, metric: "pg_database_size_bytes", agg: "sum",
		values: func(t *facts.Target) map[string]float64 {
			sum, measured := 0.0, false
			for _, d := range t.Databases {
				sum += d.SizeBytes
				measured = measured || d.HasSize
			}
			if !measured {
				return nil
			}
			return map[string]float64{"": sum}
		}}
	specFrozenXIDAge = seriesSpec{kind: queries.SourcePostgres, metric: "pg_database_datfrozenxid_age", agg: "max", by: []string{"datname"},
		values: perObject(func(t *facts.Target) []facts.Database { return t.Databases },
			func(d facts.Database) (string, float64) { return d.Name, d.FrozenXIDAge })}
	specSequenceUsed = seriesSpec{kind: queries.SourcePostgres, metric: "pg_sequences_used_ratio", agg: "max", by: []string{"datname", "schemaname", "sequencename"},
		values: perObject(func(t *facts.Target) []facts.Sequence { return t.Sequences },
			func(s facts.Sequence) (string, float64) { return relationKey(s.Relation), s.UsedRatio })}
	specSlotRetained = seriesSpec{kind: queries.SourcePostgres, metric: "pg_replication_slots_pg_wal_lsn_diff", agg: "max", by: []string{"slot_name"},
		values: perObject(func(t *facts.Target) []facts.Slot { return t.Slots },
			func(s facts.Slot) (string, float64) { return s.Name, s.RetainedBytes })}
	specRedisMemory = seriesSpec{kind: queries.SourceRedis, metric: "redis_memory_used_bytes", agg: "max",
		values: func(t *facts.Target) map[string]float64 {
			if t.RedisInfo == nil {
				return nil
			}
			return map[string]float64{"": t.RedisInfo.UsedMemory}
		}}
	specESDiskUsed = seriesSpec{kind: queries.SourceElasticsearch, metric: "elasticsearch_cat_allocation_disk_used_bytes", agg: "max", by: []string{"node"},
		values: perObject(func(t *facts.Target) []facts.NodeDisk { return t.NodeDisks },
			func(d facts.NodeDisk) (string, float64) { return d.Node, d.Used })}
	seriesSpecs = []seriesSpec{specDatabaseSize, specFrozenXIDAge, specSequenceUsed, specSlotRetained, specRedisMemory, specESDiskUsed}
)

// specOf returns the spec of a metric.
func specOf(metric string) seriesSpec {
	for _, s := range seriesSpecs {
		if s.metric == metric {
			return s
		}
	}
	panic("advisor: no series spec " + metric)
}

// The History's side of Past.

// StatementWindow is the change since the oldest sample the History has within the window
// (see Baseline); ok is false without one, or when nothing ran since it.
func (h *History) StatementWindow(t *facts.Target, now time.Time, window time.Duration) ([]facts.Statement, *Window, bool) {
	cur := t.Statements
	base, at, ok := h.Baseline(t.Name, now, window)
	if !ok || sameCalls(base, cur) {
		// no baseline; or the same (cached) result as the baseline, or a server that ran
		// nothing since: a delta would say nothing, the totals still do
		return nil, nil, false
	}
	out := make([]facts.Statement, 0, len(cur))
	for _, s := range cur {
		d := s
		if b, ok := base[s.Key()]; ok && b.Calls <= s.Calls {
			d.Calls, d.Seconds = s.Calls-b.Calls, s.Seconds-b.Seconds
		}
		out = append(out, d)
	}
	return out, &Window{From: at, To: now, Basis: "change between two samples of pg_stat_statements", Source: SourceMemory}, true
}

// IndexScans: the History keeps no index scan counters (the unused-index check reads the
// totals since the statistics reset).
func (h *History) IndexScans(*facts.Target, facts.Relation) (float64, *Window, bool) {
	return 0, nil, false
}

// Info is "memory since" the first run.
func (h *History) Info() HistoryInfo {
	info := HistoryInfo{Source: SourceMemory}
	if h != nil {
		h.mu.Lock()
		info.Since = h.started
		h.mu.Unlock()
	}
	return info
}

func (h *History) memory() *History { return h }

// seriesResolution is how many samples of a forecast series the in-memory history keeps
// over forecast_window at most, and how many steps a Prometheus range read has.
const seriesResolution = 240

// seriesSample is one recorded value of a forecast series.
type seriesSample = promhistory.Sample

// RecordSeries keeps the current value of every forecast series the snapshot has; samples
// older than keep (forecast_window) are dropped, and so are the series of objects gone.
func (h *History) RecordSeries(s *facts.Snapshot, keep time.Duration) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.series == nil {
		h.series = map[SeriesKey][]seriesSample{}
	}
	if h.started.IsZero() {
		h.started = s.At
	}
	for _, t := range s.Targets {
		if !t.Up {
			continue
		}
		for _, spec := range seriesSpecs {
			if spec.kind != t.Kind {
				continue
			}
			for obj, v := range spec.values(t) {
				k := SeriesKey{spec.metric, t.Name, obj}
				// at most seriesResolution samples over keep: a run every minute would keep
				// 1,440 a day of every sequence
				if n := len(h.series[k]); n > 0 && s.At.Sub(h.series[k][n-1].At) < keep/seriesResolution {
					continue
				}
				h.series[k] = append(h.series[k], seriesSample{At: s.At, Value: v})
			}
		}
	}
	for k, samples := range h.series {
		for len(samples) > 0 && s.At.Sub(samples[0].At) > keep {
			samples = samples[1:]
		}
		if len(samples) == 0 {
			delete(h.series, k)
			continue
		}
		h.series[k] = samples
	}
}

// Series returns the samples the History recorded of a series.
func (h *History) Series(k SeriesKey) (promhistory.Series, string, bool) {
	if h == nil {
		return promhistory.Series{}, SourceMemory, false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	samples := h.series[k]
	if len(samples) == 0 {
		return promhistory.Series{}, SourceMemory, false
	}
	return promhistory.Series{Name: specOf(k.Metric).name(k), Samples: append([]promhistory.Sample(nil), samples...)}, SourceMemory, true
}
