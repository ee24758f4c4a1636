package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// adviseOnceWith wires the exporter from a configuration file as advise does (a new process:
// a new History) and runs its advisor once.
func adviseOnceWith(t *testing.T, configFile string) *advisor.Report {
	t.Helper()
	red := &secret.Redactor{}
	logger := slog.New(red.Handler(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	w, err := setup(&flags{configFile: configFile, metricsPath: "/metrics", timeoutOffset: 200 * time.Millisecond, defaultTimeout: 5 * time.Second}, logger, red)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.engine.Close)
	adv := w.advisorRunner()
	if adv == nil {
		t.Fatal("no advisor")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep := adv.Run(ctx)
	// the forecast metric, as /metrics serves it
	reg := prometheus.NewRegistry()
	reg.MustRegister(adv.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "persistence_advisor_forecast_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			forecastMetrics = append(forecastMetrics, fmt.Sprintf("%s %s %s %g", labels["check"], labels["target"], labels["object"], m.GetGauge().GetValue()))
		}
	}
	return rep
}

// forecastMetrics are the persistence_advisor_forecast_seconds series of adviseOnceWith's runs.
var forecastMetrics []string

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestAdvisorHistoryFromPrometheus is issue 14's "done when": a Prometheus scrapes a real
// exporter; an advisor started afterwards (a restart: nothing in memory) with
// advisor.prometheus set gives the verdicts that need the past — a statement slow in the
// window though fast in its totals, an index not scanned in the window though scanned before
// it, a sequence's exhaustion forecast from its growth — each saying it came from
// Prometheus; the same restart without advisor.prometheus cannot give them.
func TestAdvisorHistoryFromPrometheus(t *testing.T) {
	pg := env.PostgresNamed(t, "history", testenv.PGOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pg.Primary
	// before Prometheus: 50 fast calls of the statement, one scan of the index
	stmts := []string{
		"CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
		"CREATE TABLE hist_t (a int, b int)",
		"INSERT INTO hist_t SELECT g, g FROM generate_series(1, 2000) g",
		"CREATE INDEX hist_old ON hist_t (b)",
		"ANALYZE hist_t",
		"CREATE SEQUENCE hist_seq AS smallint",
		"SELECT setval('hist_seq', 1000)",
		"SET enable_seqscan = off",
		"SELECT count(*) FROM hist_t WHERE b = 5",
	}
	for range 50 {
		stmts = append(stmts, "SELECT pg_sleep(0.001) AS hist_slow")
	}
	if err := p.Exec(ctx, "postgres", stmts...); err != nil {
		t.Fatal(err)
	}
	conn, err := p.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var queryID string
	if err := conn.QueryRow(ctx, "SELECT queryid::text FROM pg_stat_statements WHERE query LIKE '%hist_slow%' AND calls = 50").Scan(&queryID); err != nil {
		t.Fatalf("the statement's queryid: %v", err)
	}

	dir := t.TempDir()
	base := fmt.Sprintf(`targets:
  postgres:
    - name: hist
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
advisor:
  thresholds:
    slow_query_mean: 200ms
    slow_query_window: 1m
    unused_index_min_window: 6s
    unused_index_min_size: 0
    forecast_window: 1m
    forecast_min_span: 4s
`, testPassword, p.Port)
	memoryOnly := testenv.WriteFile(t, dir, "memory.yml", base)

	// the exporter Prometheus scrapes: every query runs at every scrape
	red := &secret.Redactor{}
	logger := slog.New(red.Handler(slog.NewTextHandler(&testenv.SyncBuffer{}, nil)))
	f := &flags{configFile: memoryOnly, metricsPath: "/metrics", timeoutOffset: 200 * time.Millisecond, defaultTimeout: 5 * time.Second, ttlCap: "0s"}
	w, err := setup(f, logger, red)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.engine.Close)
	mux, err := buildMux(f, w, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	prom := testenv.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s, scrape_timeout: 1s}
scrape_configs:
  - job_name: persistence
    static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(srv.URL, "http://")))
	atLeast := func(n int) func(model.Vector) bool {
		return func(v model.Vector) bool { return len(v) == 1 && float64(v[0].Value) >= float64(n) }
	}
	// the index's and the statement's series have been there longer than
	// unused_index_min_window (6 s): 8 scrapes a second apart
	prom.WaitQuery(t, `count_over_time(pg_stat_user_indexes_idx_scan_total{target="hist",indexrelname="hist_old"}[1m])`, time.Minute, atLeast(8))
	prom.WaitQuery(t, fmt.Sprintf(`count_over_time(pg_stat_statements_calls_total{target="hist",queryid=%q}[1m])`, queryID), 10*time.Second, atLeast(8))

	// within the window: the sequence grows by steps Prometheus sees one by one, and the
	// statement runs 4 slow calls
	for _, v := range []int{6000, 11000, 16000} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SELECT setval('hist_seq', %d)", v)); err != nil {
			t.Fatal(err)
		}
		prom.WaitQuery(t, `pg_sequences_last_value{target="hist",sequencename="hist_seq"}`, 10*time.Second, atLeast(v))
	}
	for range 4 {
		if _, err := conn.Exec(ctx, "SELECT pg_sleep(0.3) AS hist_slow"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT setval('hist_seq', 21000)"); err != nil {
		t.Fatal(err)
	}
	prom.WaitQuery(t, fmt.Sprintf(`pg_stat_statements_calls_total{target="hist",queryid=%q}`, queryID), 10*time.Second, atLeast(54))
	prom.WaitQuery(t, `pg_sequences_last_value{target="hist",sequencename="hist_seq"}`, 10*time.Second, atLeast(21000))

	// the restart, with advisor.prometheus: the verdicts, from Prometheus
	withPrometheus := testenv.WriteFile(t, dir, "prometheus.yml", base+"  prometheus: {url: "+prom.URL+", timeout: 20s}\n")
	forecastMetrics = nil
	rep := adviseOnceWith(t, withPrometheus)
	if rep.History.Source != advisor.SourcePrometheus || rep.History.Fallback != "" {
		t.Errorf("history %+v, want prometheus with no fallback", rep.History)
	}
	found := map[string]advisor.Finding{}
	for _, f := range rep.Findings {
		found[f.Check+" "+f.Object] = f
	}
	slow, ok := found["slow_query queryid:"+queryID]
	if !ok || slow.Window == nil || slow.Window.Source != advisor.SourcePrometheus {
		t.Errorf("slow_query on queryid:%s: %+v, want a finding over the window from prometheus", queryID, slow)
	} else if !strings.Contains(slow.Summary, "over 4 calls") {
		t.Errorf("slow_query: %q, want the 4 calls of the window", slow.Summary)
	}
	unused, ok := found["unused_index public.hist_old"]
	if !ok || unused.Window == nil || unused.Window.Source != advisor.SourcePrometheus {
		t.Errorf("unused_index on public.hist_old: %+v, want a finding over the window from prometheus", unused)
	}
	seq, ok := found["sequence_forecast public.hist_seq"]
	if !ok || seq.Forecast == nil {
		t.Fatalf("no sequence_forecast on public.hist_seq; findings: %v", keys(found))
	}
	fc := seq.Forecast
	if fc.Source != advisor.SourcePrometheus || !strings.Contains(fc.Series, `pg_sequences_used_ratio{target="hist",datname="postgres",schemaname="public",sequencename="hist_seq"}`) ||
		fc.Samples < 5 || fc.Slope <= 0 || seq.Severity != advisor.Critical {
		t.Errorf("sequence forecast %s %+v, want a critical one fitted on Prometheus' pg_sequences_used_ratio", seq.Severity, fc)
	}
	// the fit of a sequence that grew 15,000 in a few seconds ends within minutes, not years
	if d := fc.Date.Sub(rep.GeneratedAt); d < 0 || d > 10*time.Minute {
		t.Errorf("the sequence ends %s after the report, want within minutes", d)
	}
	var text bytes.Buffer
	if err := advisor.WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  history: prometheus\n", "[from prometheus]", "    forecast: " + fc.Date.UTC().Format(time.RFC3339)} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
	wantMetric := fmt.Sprintf("sequence_forecast hist public.hist_seq %g", fc.Seconds)
	if !strings.Contains(strings.Join(forecastMetrics, "\n"), wantMetric) {
		t.Errorf("persistence_advisor_forecast_seconds: %v, want %q", forecastMetrics, wantMetric)
	}

	// the same restart without advisor.prometheus: no past, no such verdicts
	rep = adviseOnceWith(t, memoryOnly)
	if rep.History.Source != advisor.SourceMemory {
		t.Errorf("history %+v, want memory", rep.History)
	}
	for _, f := range rep.Findings {
		switch f.Check + " " + f.Object {
		case "slow_query queryid:" + queryID, "unused_index public.hist_old", "sequence_forecast public.hist_seq":
			t.Errorf("a verdict a restarted advisor cannot have from memory: %s %s: %s", f.Check, f.Object, f.Summary)
		}
	}
}

func keys(m map[string]advisor.Finding) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
