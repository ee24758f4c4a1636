package advisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestMetrics(t *testing.T) {
	r := &Runner{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "persistence_advisor_runs_total" {
		t.Errorf("before the first run, only the run counter: %v", mfs)
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f := Finding{Check: "connections", Severity: Critical, Target: "p", Object: "connections", Store: "postgres", Deployment: "temporal"}
	r.last = &Report{GeneratedAt: at, Duration: 1.5,
		Findings: []Finding{f, f}, // the same object twice is one series
		Stores:   []StoreSummary{{Store: "postgres", Targets: 1, Up: 1, Findings: Counts{Critical: 2}}, {Store: "redis", Targets: 3, Up: 3}},
		Checks:   []CheckInfo{{ID: "connections"}, {ID: "slow_query"}},
		Skipped:  []Skip{{Check: "slow_query", Target: "p", Reason: "query pg_stat_statements_advisor did not run"}},
	}
	r.runs = 3
	text := testenv.GatherText(t, reg)
	wantLines(t, text,
		`persistence_advisor_finding{check="connections",deployment="temporal",object="connections",severity="critical",store="postgres",target="p"} 1`,
		`persistence_advisor_store_findings{severity="critical",store="postgres"} 2`,
		`persistence_advisor_store_findings{severity="info",store="redis"} 0`,
		`persistence_advisor_findings{check="connections",severity="critical"} 2`,
		`persistence_advisor_findings{check="connections",severity="warning"} 0`,
		`persistence_advisor_findings{check="slow_query",severity="info"} 0`,
		`persistence_advisor_check_skipped{check="slow_query",target="p"} 1`,
		fmt.Sprintf("persistence_advisor_last_run_timestamp_seconds %g", float64(at.Unix())),
		`persistence_advisor_last_run_duration_seconds 1.5`,
		`persistence_advisor_runs_total 3`,
	)
	if n := strings.Count(text, "persistence_advisor_finding{"); n != 1 {
		t.Errorf("%d finding series, want 1", n)
	}
	testenv.CheckMetrics(t, text)
}

// blockingSource is a target whose probe waits until released, counting the probes in
// flight.
type blockingSource struct {
	release           chan struct{}
	inFlight, maxSeen atomic.Int64
	probes            atomic.Int64
}

func (s *blockingSource) Probe(ctx context.Context) (queries.ServerInfo, error) {
	s.probes.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	select {
	case <-s.release:
		return queries.ServerInfo{Version: 150000, Role: queries.RolePrimary}, nil
	case <-ctx.Done():
		return queries.ServerInfo{}, ctx.Err()
	}
}

func (s *blockingSource) Run(context.Context, *queries.Query, queries.Body) (*queries.Rows, error) {
	return nil, errors.New("no queries")
}

func (s *blockingSource) Close() {}

// TestRunConcurrency: a run gathers at most advisor.concurrency targets at a time, and still
// gathers every target.
func TestRunConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &blockingSource{release: make(chan struct{})}
		var targets []*collector.Target
		for i := range 40 {
			targets = append(targets, &collector.Target{Name: fmt.Sprintf("pg%02d", i), Kind: queries.SourcePostgres,
				UpMetric: "pg_up", Source: src, Timeout: time.Minute, Parallel: 2})
		}
		cfg := DefaultConfig()
		cfg.Concurrency = 4
		r := &Runner{Engine: collector.NewEngine(targets, slog.New(slog.DiscardHandler)), Targets: targets, Config: cfg}
		done := make(chan *Report)
		go func() { done <- r.Run(context.Background()) }()
		synctest.Wait() // every gather that could start is blocked in its probe
		if n := src.inFlight.Load(); n != 4 {
			t.Errorf("%d probes in flight, want advisor.concurrency = 4", n)
		}
		close(src.release)
		rep := <-done
		if n := src.maxSeen.Load(); n != 4 {
			t.Errorf("at most %d probes in flight, want 4", n)
		}
		up := 0
		for _, ts := range rep.Targets {
			if ts.Up {
				up++
			}
		}
		if src.probes.Load() != 40 || len(rep.Targets) != 40 || up != 40 {
			t.Errorf("%d probes, %d targets in the report, %d up: want every one of the 40", src.probes.Load(), len(rep.Targets), up)
		}
	})
}

// TestForecastMetrics: a forecast finding is a persistence_advisor_forecast_seconds series
// (once per check, target and object), and the history's source is a gauge.
func TestForecastMetrics(t *testing.T) {
	r := &Runner{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	fc := Finding{Check: "sequence_forecast", Severity: Warning, Target: "p", Object: "public.ids", Forecast: &Forecast{Seconds: 3600}}
	r.last = &Report{GeneratedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		Findings: []Finding{fc, fc, {Check: "connections", Severity: Critical, Target: "p", Object: "connections"}},
		Checks:   []CheckInfo{{ID: "sequence_forecast"}, {ID: "connections"}},
		History:  HistoryInfo{Source: SourcePrometheus},
	}
	text := testenv.GatherText(t, reg)
	wantLines(t, text,
		`persistence_advisor_forecast_seconds{check="sequence_forecast",object="public.ids",target="p"} 3600`,
		`persistence_advisor_history_prometheus 1`,
	)
	if n := strings.Count(text, "persistence_advisor_forecast_seconds{"); n != 1 {
		t.Errorf("%d forecast series, want 1 (the finding without a forecast has none)", n)
	}
	testenv.CheckMetrics(t, text)
}

// wantLines fails for each of want that is not a whole line of text.
func wantLines(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("metrics lack %s\n%s", w, text)
		}
	}
}

// TestPrometheusFailureLoggedOnce: a Prometheus that stays down is one warning, not one per
// run; its return is one line too.
func TestPrometheusFailureLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	r := &Runner{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	down := []string{"statement windows from memory: connection refused"}
	for range 3 {
		r.logPrometheus(down)
	}
	r.logPrometheus(nil)
	r.logPrometheus(nil)
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "connection refused") {
		t.Errorf("%d warnings, want 1 with the reason:\n%s", n, out)
	}
	if n := strings.Count(out, "from Prometheus again"); n != 1 {
		t.Errorf("%d recoveries logged, want 1:\n%s", n, out)
	}
}

// recordingSource answers every probe as a PostgreSQL 15 primary and records the queries run.
type recordingSource struct {
	mu  sync.Mutex
	ran map[string]bool
}

func (s *recordingSource) Probe(context.Context) (queries.ServerInfo, error) {
	return queries.ServerInfo{Version: 150000, Role: queries.RolePrimary}, nil
}

func (s *recordingSource) Run(_ context.Context, q *queries.Query, _ queries.Body) (*queries.Rows, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran[q.Name] = true
	return nil, errors.New("recorded only")
}

func (s *recordingSource) Close() {}

// TestRunGathersWhatChecksRead: an advisor run asks for the queries its facts read and no
// other (the scrapes' queries stay the scrapes'), and not for those only disabled checks or
// needs the configuration turns off read: pg_database_size without pg_disk_size (both disk
// forecasts read it only with one), pg_index_definitions with redundant_index disabled.
func TestRunGathersWhatChecksRead(t *testing.T) {
	set, err := queries.DefaultSet(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	ran := func(cfg Config) map[string]bool {
		src := &recordingSource{ran: map[string]bool{}}
		target := &collector.Target{Name: "pg", Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src,
			Queries: set.For(queries.SourcePostgres), Timeout: time.Minute, Parallel: 2}
		r := &Runner{Engine: collector.NewEngine([]*collector.Target{target}, slog.New(slog.DiscardHandler)),
			Targets: []*collector.Target{target}, Checks: DefaultChecks(), Config: cfg, Once: true}
		r.Run(context.Background())
		return src.ran
	}
	cfg := DefaultConfig()
	got := ran(cfg)
	for _, q := range []string{"pg_stat_user_tables", "pg_stat_user_indexes", "pg_index_definitions", "pg_settings", "pg_database", "pg_system"} {
		if !got[q] {
			t.Errorf("%s not gathered", q)
		}
	}
	// exported only, and the disk forecast's without pg_disk_size
	for _, q := range []string{"pg_stat_bgwriter", "pg_locks", "pg_stat_database_conflicts", "pg_database_size"} {
		if got[q] {
			t.Errorf("%s gathered by the advisor", q)
		}
	}
	cfg.Thresholds.PGDiskSize = 1 << 40
	cfg.Disable = []string{"redundant_index"}
	got = ran(cfg)
	if !got["pg_database_size"] {
		t.Error("pg_database_size not gathered with pg_disk_size set")
	}
	if got["pg_index_definitions"] {
		t.Error("pg_index_definitions gathered with redundant_index disabled")
	}
	// the slots' forecast reads the sizes too (the disk's free space)
	cfg.Disable = []string{"pg_disk_forecast"}
	if got = ran(cfg); !got["pg_database_size"] {
		t.Error("pg_database_size not gathered for slot_wal_forecast with pg_disk_size set")
	}
	cfg.Disable = []string{"pg_disk_forecast", "slot_wal_forecast"}
	if got = ran(cfg); got["pg_database_size"] {
		t.Error("pg_database_size gathered with both disk forecasts disabled")
	}
}
