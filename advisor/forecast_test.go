package advisor_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The forecasts on series of known slope, built as facts run after run: the in-memory
// history records each run's values, and the check fits them.

const (
	mib = 1 << 20
	gib = 1 << 30
)

// grow records n runs, an hour apart, ending an hour before now, of the targets target(i)
// gives (i = 0 .. n-1), and returns the history and the snapshot of run n (now).
func grow(t *testing.T, cfg advisor.Config, n int, target func(i int) []*facts.Target) (*advisor.History, *facts.Snapshot) {
	t.Helper()
	h := advisor.NewHistory()
	start := now.Add(-time.Duration(n) * time.Hour)
	for i := range n {
		h.RecordSeries(snapshot(start.Add(time.Duration(i)*time.Hour), target(i)...), cfg.Thresholds.ForecastWindow)
	}
	return h, snapshot(now, target(n)...)
}

// reaches is the time a line through (now - n hours + i hours, v0 + i*perHour) reaches limit.
func reaches(n int, v0, perHour, limit float64) time.Time {
	start := now.Add(-time.Duration(n) * time.Hour)
	return start.Add(time.Duration((limit - v0) / perHour * float64(time.Hour)))
}

// oneForecast wants exactly one finding, of a forecast of the severity and date given.
func oneForecast(t *testing.T, fs []advisor.Finding, sev advisor.Severity, object string, date time.Time, series string) advisor.Finding {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("%d findings, want one on %s: %+v", len(fs), object, fs)
	}
	f := fs[0]
	if f.Severity != sev || f.Object != object || f.Forecast == nil {
		t.Fatalf("finding %s %s forecast %+v, want %s on %s", f.Severity, f.Object, f.Forecast, sev, object)
	}
	if d := f.Forecast.Date.Sub(date); d.Abs() > time.Second {
		t.Errorf("forecast date %s, want %s (%s off)", f.Forecast.Date, date, d)
	}
	if want := math.Max(0, date.Sub(now).Seconds()); math.Abs(f.Forecast.Seconds-want) > 1 {
		t.Errorf("forecast in %.0f s, want %.0f", f.Forecast.Seconds, want)
	}
	if f.Forecast.Series != series || f.Forecast.Source != advisor.SourceMemory {
		t.Errorf("fitted on %q from %s, want %q from memory", f.Forecast.Series, f.Forecast.Source, series)
	}
	if !strings.Contains(f.Summary, f.Forecast.Date.UTC().Format("2006-01-02 15:04")) {
		t.Errorf("the summary does not give the date: %s", f.Summary)
	}
	return f
}

// TestForecastKnownSlope: each forecast check on a series growing at a known rate says the
// date the line reaches its threshold, and the severity by how soon that is.
func TestForecastKnownSlope(t *testing.T) {
	cfg := advisor.DefaultConfig()

	t.Run("redis memory", func(t *testing.T) {
		// 1000 MiB growing 10 MiB an hour toward maxmemory 1536 MiB: 53.6 h after the first
		// sample, 47.6 h from now: a warning
		h, s := grow(t, cfg, 6, func(i int) []*facts.Target {
			return []*facts.Target{dataNode("cache", queries.RolePrimary, func(in *facts.RedisInfo) {
				in.UsedMemory = float64(1000*mib + i*10*mib)
			})}
		})
		f := oneForecast(t, evaluate(t, s, cfg, h, "redis_memory_forecast"), advisor.Warning, "memory",
			reaches(6, 1000*mib, 10*mib, 1536*mib), `max by (target) (redis_memory_used_bytes{target="cache"})`)
		if f.Forecast.Samples != 7 || f.Forecast.Threshold != 1536*mib || math.Abs(f.Forecast.Slope-10*mib/3600.0) > 1e-6 {
			t.Errorf("forecast %+v: want 7 samples, threshold maxmemory, 10 MiB/h", f.Forecast)
		}
		if f.Window == nil || f.Window.Source != advisor.SourceMemory {
			t.Errorf("window %+v, want the samples' window from memory", f.Window)
		}
	})

	t.Run("redis memory critical", func(t *testing.T) {
		// 100 MiB an hour from 900 MiB: 6.36 h after the first sample, 0.36 h from now
		h, s := grow(t, cfg, 6, func(i int) []*facts.Target {
			return []*facts.Target{dataNode("cache", queries.RolePrimary, func(in *facts.RedisInfo) {
				in.UsedMemory = float64(900*mib + i*100*mib)
			})}
		})
		oneForecast(t, evaluate(t, s, cfg, h, "redis_memory_forecast"), advisor.Critical, "memory",
			reaches(6, 900*mib, 100*mib, 1536*mib), `max by (target) (redis_memory_used_bytes{target="cache"})`)
	})

	t.Run("elasticsearch next watermark", func(t *testing.T) {
		// a 100 GiB disk at 80 GiB growing 0.5 GiB an hour: low (85 %) is 10 h after the first
		// sample, 4 h from now; high and flood later, in the evidence
		h, s := grow(t, cfg, 6, func(i int) []*facts.Target {
			used := float64(80*gib) + float64(i)*gib/2
			return []*facts.Target{{Name: "es", Kind: queries.SourceElasticsearch, ElasticsearchFacts: facts.ElasticsearchFacts{
				NodeDisks: []facts.NodeDisk{{Node: "es-1", Used: used, Total: 100 * gib, Avail: 100*gib - used, Ratio: used / (100 * gib)}},
				ClusterSettings: &facts.ClusterSettings{ThresholdEnabled: true,
					Low: facts.Watermark{Ratio: 0.85, HasRatio: true}, High: facts.Watermark{Ratio: 0.9, HasRatio: true},
					Flood: facts.Watermark{FreeBytes: 5 * gib, HasFreeBytes: true}},
			}}}
		})
		f := oneForecast(t, evaluate(t, s, cfg, h, "es_disk_forecast"), advisor.Critical, "node es-1",
			reaches(6, 80*gib, gib/2, 85*gib), `max by (target, node) (elasticsearch_cat_allocation_disk_used_bytes{target="es",node="es-1"})`)
		if !strings.Contains(f.Forecast.Reaches, "low watermark") {
			t.Errorf("reaches %q, want the low watermark", f.Forecast.Reaches)
		}
		var dates string
		for _, e := range f.Evidence {
			if e.Name == "watermark dates" {
				dates = e.Value
			}
		}
		_, floodDate, _ := strings.Cut(dates, "flood-stage ")
		flood, err := time.Parse(time.RFC3339, floodDate)
		if want := reaches(6, 80*gib, gib/2, 95*gib); !strings.Contains(dates, "high ") || err != nil || flood.Sub(want).Abs() > time.Second {
			t.Errorf("watermark dates %q, want high and flood-stage %s", dates, want)
		}
	})

	t.Run("sequence", func(t *testing.T) {
		// an integer sequence at 50 % using 1 % an hour: the end 50 h after the first sample
		h, s := grow(t, cfg, 6, func(i int) []*facts.Target {
			return []*facts.Target{pg("p", queries.RolePrimary, facts.PostgresFacts{Sequences: []facts.Sequence{
				{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: "ids"}, DataType: "integer", UsedRatio: 0.5 + 0.01*float64(i)},
				{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: "cycling"}, DataType: "integer", UsedRatio: 0.5 + 0.01*float64(i), Cycle: true},
			}})}
		})
		f := oneForecast(t, evaluate(t, s, cfg, h, "sequence_forecast"), advisor.Warning, "public.ids",
			reaches(6, 0.5, 0.01, 1), `max by (target, datname, schemaname, sequencename) (pg_sequences_used_ratio{target="p",datname="temporal",schemaname="public",sequencename="ids"})`)
		if f.Fix.Text != "ALTER SEQUENCE public.ids AS bigint;" {
			t.Errorf("fix %q", f.Fix.Text)
		}
	})

	t.Run("wraparound since the last vacuum", func(t *testing.T) {
		// a vacuum froze the database between runs 2 and 3 (the age fell): the fit starts
		// there, at 10 M growing 100 M an hour: 2^31 is 21.3 h after run 3, 17.3 h from now
		ages := []float64{150e6, 190e6, 230e6, 10e6, 110e6, 210e6, 310e6, 410e6}
		h, s := grow(t, cfg, 7, func(i int) []*facts.Target {
			return []*facts.Target{pg("p", queries.RolePrimary, facts.PostgresFacts{
				Databases: []facts.Database{{Name: "temporal", FrozenXIDAge: ages[i]}},
				Settings:  settings("autovacuum_freeze_max_age", 200e6)})}
		})
		start := now.Add(-7 * time.Hour).Add(3 * time.Hour)
		date := start.Add(time.Duration((1<<31 - 10e6) / 100e6 * float64(time.Hour)))
		f := oneForecast(t, evaluate(t, s, cfg, h, "wraparound_forecast"), advisor.Critical, "database:temporal",
			date, `max by (target, datname) (pg_database_datfrozenxid_age{target="p",datname="temporal"})`)
		if f.Forecast.Samples != 5 {
			t.Errorf("fitted on %d samples, want the 5 since the fall", f.Forecast.Samples)
		}
	})

	t.Run("slot against max_slot_wal_keep_size", func(t *testing.T) {
		// an inactive slot holding 1 GiB more every hour, max_slot_wal_keep_size 10 GiB:
		// reached 9 h after the first sample, 3 h from now
		h, s := grow(t, cfg, 6, func(i int) []*facts.Target {
			return []*facts.Target{pg("p", queries.RolePrimary, facts.PostgresFacts{
				Slots:    []facts.Slot{{Name: "dr", Type: "logical", RetainedBytes: float64(gib + i*gib)}},
				Settings: settings("max_slot_wal_keep_size", float64(10*gib))})}
		})
		f := oneForecast(t, evaluate(t, s, cfg, h, "slot_wal_forecast"), advisor.Critical, "slot:dr",
			reaches(6, gib, gib, 10*gib), `max by (target, slot_name) (pg_replication_slots_pg_wal_lsn_diff{target="p",slot_name="dr"})`)
		if !strings.Contains(f.Forecast.Reaches, "max_slot_wal_keep_size") || !strings.Contains(f.Fix.Text, "pg_drop_replication_slot('dr')") {
			t.Errorf("forecast %+v, fix %q", f.Forecast, f.Fix.Text)
		}
	})

	t.Run("postgres disk", func(t *testing.T) {
		// 2 databases growing 1 GiB an hour together toward a 100 GiB disk from 50 GiB: 50 h
		// after the first sample; nothing without pg_disk_size
		target := func(i int) []*facts.Target {
			return []*facts.Target{pg("p", queries.RolePrimary, facts.PostgresFacts{Databases: []facts.Database{
				{Name: "temporal", SizeBytes: float64(40*gib) + float64(i)*gib*3/4, HasSize: true},
				{Name: "temporal_visibility", SizeBytes: float64(10*gib) + float64(i)*gib/4, HasSize: true},
			}})}
		}
		h, s := grow(t, cfg, 6, target)
		if fs := evaluate(t, s, cfg, h, "pg_disk_forecast"); len(fs) != 0 {
			t.Errorf("without pg_disk_size: %+v", fs)
		}
		cfg := cfg
		cfg.Thresholds.PGDiskSize = 100 * gib
		oneForecast(t, evaluate(t, s, cfg, h, "pg_disk_forecast"), advisor.Warning, "disk",
			reaches(6, 50*gib, gib, 100*gib), `sum by (target) (pg_database_size_bytes{target="p"})`)
	})
}

// TestForecastNothingToSay: no forecast from too little history, a flat or falling series, a
// series already at its threshold (another check says so), or a date beyond the horizons.
func TestForecastNothingToSay(t *testing.T) {
	cfg := advisor.DefaultConfig()
	memory := func(values ...float64) func(i int) []*facts.Target {
		return func(i int) []*facts.Target {
			return []*facts.Target{dataNode("cache", queries.RolePrimary, func(in *facts.RedisInfo) { in.UsedMemory = values[i] })}
		}
	}
	for _, tc := range []struct {
		name   string
		n      int
		values []float64
		cfg    func(*advisor.Config)
		want   advisor.Severity // -1: nothing
	}{
		{"growing: a warning", 5, []float64{1000 * mib, 1010 * mib, 1020 * mib, 1030 * mib, 1040 * mib, 1050 * mib}, nil, advisor.Warning},
		{"three samples", 2, []float64{1000 * mib, 1100 * mib, 1200 * mib}, nil, -1},
		{"too short a span", 5, []float64{1000 * mib, 1010 * mib, 1020 * mib, 1030 * mib, 1040 * mib, 1050 * mib},
			func(c *advisor.Config) { c.Thresholds.ForecastMinSpan = 6 * time.Hour }, -1},
		{"flat", 5, []float64{1000 * mib, 1000 * mib, 1000 * mib, 1000 * mib, 1000 * mib, 1000 * mib}, nil, -1},
		{"falling", 5, []float64{1050 * mib, 1040 * mib, 1030 * mib, 1020 * mib, 1010 * mib, 1000 * mib}, nil, -1},
		{"at maxmemory", 5, []float64{1500 * mib, 1510 * mib, 1520 * mib, 1530 * mib, 1540 * mib, 1550 * mib}, nil, -1},
		// 1 MiB an hour: 531 h (22 days) from now, within forecast_horizon_info (30 days)
		{"slow: info", 5, []float64{1000 * mib, 1001 * mib, 1002 * mib, 1003 * mib, 1004 * mib, 1005 * mib}, nil, advisor.Info},
		{"slower than the info horizon", 5, []float64{1000 * mib, 1001 * mib, 1002 * mib, 1003 * mib, 1004 * mib, 1005 * mib},
			func(c *advisor.Config) { c.Thresholds.ForecastHorizonInfo = c.Thresholds.ForecastHorizon }, -1},
		{"older samples than forecast_window", 5, []float64{1000 * mib, 1010 * mib, 1020 * mib, 1030 * mib, 1040 * mib, 1050 * mib},
			func(c *advisor.Config) {
				c.Thresholds.ForecastWindow = 3 * time.Hour
				c.Thresholds.ForecastMinSpan = time.Hour
			}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			h, s := grow(t, cfg, tc.n, memory(tc.values...))
			fs := evaluate(t, s, cfg, h, "redis_memory_forecast")
			switch {
			case tc.want < 0 && len(fs) != 0:
				t.Errorf("a forecast: %+v", fs[0].Forecast)
			case tc.want >= 0 && (len(fs) != 1 || fs[0].Severity != tc.want):
				t.Errorf("findings %+v, want one %s", fs, tc.want)
			}
		})
	}
}

// fakePrometheus answers the advisor's queries from canned answers, by the metric the
// expression reads; err fails every read.
type fakePrometheus struct {
	instant map[string][]promhistory.Value  // by a substring of the expression
	ranges  map[string][]promhistory.Series // by metric
	err     error
	exprs   []string
}

func (f *fakePrometheus) Query(_ context.Context, expr string, _ time.Time) ([]promhistory.Value, error) {
	f.exprs = append(f.exprs, expr)
	if f.err != nil {
		return nil, f.err
	}
	for k, v := range f.instant {
		if strings.Contains(expr, k) {
			return v, nil
		}
	}
	return nil, nil
}

func (f *fakePrometheus) Range(_ context.Context, expr string, _, _ time.Time, _ time.Duration) ([]promhistory.Series, error) {
	f.exprs = append(f.exprs, expr)
	if f.err != nil {
		return nil, f.err
	}
	for k, v := range f.ranges {
		if strings.Contains(expr, k+"{") {
			return v, nil
		}
	}
	return nil, nil
}

// TestWindowsFromPrometheus: with Prometheus' answers, a fresh history gives the verdicts a
// long-lived one would: the slow statement of the last hour (its totals are fast), the
// index not scanned for the whole window (its total is not 0), a forecast; each says where
// it came from. When Prometheus fails, the in-memory history answers and the report says so.
func TestWindowsFromPrometheus(t *testing.T) {
	cfg := advisor.DefaultConfig()
	cfg.Thresholds.UnusedIndexMinSize = 0
	target := func() *facts.Target {
		p := pg("p", queries.RolePrimary, facts.PostgresFacts{
			StartTime: now.Add(-time.Hour), // restarted an hour ago
			// 1000 calls of 10 ms since the reset, in total: not slow
			Statements: []facts.Statement{{QueryID: "7", Database: "temporal", User: "app", Text: "SELECT slow()", Calls: 1000, Seconds: 10}},
			Indexes:    []facts.Index{{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: "old_idx"}, Table: "t", Scans: 12, Valid: true, SizeBytes: 1 << 20}},
			Databases:  []facts.Database{{Name: "temporal"}},
		})
		p.SystemID = "1"
		return p
	}
	labels := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	stmt := labels("target", "p", "datname", "temporal", "user", "app", "queryid", "7")
	index := labels("target", "p", "datname", "temporal", "schemaname", "public", "indexrelname", "old_idx")
	var samples []promhistory.Sample
	for i := range 7 { // 10 MiB an hour from 1000 MiB, until an hour ago
		samples = append(samples, promhistory.Sample{At: now.Add(time.Duration(i-7) * time.Hour), Value: float64(1000*mib + i*10*mib)})
	}
	prom := &fakePrometheus{
		instant: map[string][]promhistory.Value{
			// in the last hour: 4 calls of 2 s
			"increase(pg_stat_statements_calls_total":   {{Labels: stmt, Value: 4}},
			"increase(pg_stat_statements_seconds_total": {{Labels: stmt, Value: 8}},
			// the index: no scan in the window, and its series was there at its start
			"increase(pg_stat_user_indexes_idx_scan_total": {{Labels: index, Value: 0}},
			"idx_scan_total{target=~\"p\"} offset 1w":      {{Labels: index, Value: 1}},
		},
		ranges: map[string][]promhistory.Series{
			"redis_memory_used_bytes": {{Labels: labels("target", "cache"), Samples: samples}},
		},
	}
	s := snapshot(now, target(), dataNode("cache", queries.RolePrimary, func(in *facts.RedisInfo) { in.UsedMemory = 1070 * mib }))
	past := advisor.PrometheusPast(context.Background(), prom, s, &cfg.Thresholds, advisor.NewHistory())
	rep := advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, past)
	if rep.History.Source != advisor.SourcePrometheus || rep.History.Fallback != "" {
		t.Errorf("history %+v, want prometheus without fallback", rep.History)
	}
	byCheck := map[string]advisor.Finding{}
	for _, f := range rep.Findings {
		byCheck[f.Check] = f
	}
	if f, ok := byCheck["slow_query"]; !ok || f.Window == nil || f.Window.Source != advisor.SourcePrometheus || !f.Window.From.Equal(now.Add(-time.Hour)) {
		t.Errorf("slow_query: %+v, want a finding over the last hour from prometheus", f)
	}
	if f, ok := byCheck["unused_index"]; !ok || f.Object != "public.old_idx" || f.Window.Source != advisor.SourcePrometheus ||
		!f.Window.From.Equal(now.Add(-cfg.Thresholds.UnusedIndexMinWindow)) || !strings.Contains(f.Summary, "7.0 days") {
		t.Errorf("unused_index: %+v, want public.old_idx unused for 7 days from prometheus", f)
	}
	f, ok := byCheck["redis_memory_forecast"]
	if !ok || f.Forecast.Source != advisor.SourcePrometheus || f.Forecast.Samples != 8 ||
		f.Forecast.Date.Sub(reaches(7, 1000*mib, 10*mib, 1536*mib)).Abs() > time.Second {
		t.Errorf("redis_memory_forecast: %+v, want the fit of Prometheus' samples and the current value", f.Forecast)
	}
	// the four forms say where the windows came from, and show the forecast
	for form, write := range map[string]func(io.Writer, *advisor.Report) error{
		"text": advisor.WriteText, "markdown": advisor.WriteMarkdown, "html": advisor.WriteHTML, "json": advisor.WriteJSON,
	} {
		var b bytes.Buffer
		if err := write(&b, rep); err != nil {
			t.Fatal(err)
		}
		date := f.Forecast.Date.UTC().Format(time.RFC3339)
		wants := map[string][]string{
			"text":     {"  history: prometheus\n", "    forecast: " + date, "[from prometheus]"},
			"markdown": {"History: prometheus.", "- forecast: " + date, "[from prometheus]"},
			"html":     {`id="history">History (windows and forecasts): prometheus.`, `<div class="forecast">forecast: ` + date, "[from prometheus]"},
			"json":     {`"history": {` + "\n" + `    "source": "prometheus"`, `"forecast": {`, `"series": "max by (target) (redis_memory_used_bytes{target=\"cache\"})"`},
		}[form]
		for _, want := range wants {
			if !strings.Contains(b.String(), want) {
				t.Errorf("the %s report lacks %q", form, want)
			}
		}
	}
	for _, e := range prom.exprs {
		if strings.Contains(e, "pg_stat_statements_calls_total") && !strings.Contains(e, `[1h]`) {
			t.Errorf("statements read over %q, want slow_query_window (1h)", e)
		}
	}

	// the index's series began within the window: no verdict from Prometheus (and its total
	// is not 0: none from the statistics)
	delete(prom.instant, "idx_scan_total{target=~\"p\"} offset 1w")
	rep = advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, advisor.PrometheusPast(context.Background(), prom, s, &cfg.Thresholds, advisor.NewHistory()))
	for _, f := range rep.Findings {
		if f.Check == "unused_index" {
			t.Errorf("an index Prometheus saw only part of the window: %+v", f)
		}
	}

	// Prometheus down: today's in-memory verdicts (none of these three), and the report says why
	prom.err = errors.New("connection refused")
	rep = advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, advisor.PrometheusPast(context.Background(), prom, s, &cfg.Thresholds, advisor.NewHistory()))
	if rep.History.Source != advisor.SourceMemory || !strings.Contains(rep.History.Fallback, "connection refused") {
		t.Errorf("history %+v, want memory with the reason", rep.History)
	}
	for _, f := range rep.Findings {
		switch f.Check {
		case "slow_query", "unused_index", "redis_memory_forecast":
			t.Errorf("a verdict without its past: %+v", f)
		}
	}
}
