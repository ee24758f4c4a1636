package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestDefaultPackOnEveryVersion runs every default PostgreSQL query against a primary and a
// streaming replica of each major of the matrix (13, 15, 17, 18), on a cluster that has
// what the queries look at: the seed's schema, a second database, a logical replication
// subscription, pg_cron, pg_stat_statements — and, in a third database, pg_stat_statements at
// the old version a server upgraded without ALTER EXTENSION UPDATE keeps.
//
// It checks that nothing fails, that exactly the expected queries are skipped (by version,
// role or extension), that the metrics of each version and role are there, and that the
// exposition passes promtool's lint.
func TestDefaultPackOnEveryVersion(t *testing.T) {
	versions := testenv.PGMatrix(t)
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(queries.SourcePostgres)
	for _, v := range versions {
		t.Run(fmt.Sprintf("pg%d", v.Major), func(t *testing.T) {
			opts := v.Options()
			opts.Conf = []string{"wal_level = logical"}
			pg, err := testenv.StartPostgres(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer pg.Stop()
			c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			hasCron := prepareCluster(t, c, pg, v.Major)

			mk := func(name, dsn string) *collector.Target {
				src, err := New(Options{DSN: dsn, MaxConns: 2, StatementTimeout: 30 * time.Second, LockTimeout: time.Second, ConnectTimeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				return &collector.Target{Name: name, Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src, Queries: qs, Timeout: 20 * time.Second, Parallel: 2}
			}
			targets := []*collector.Target{
				mk("primary", pg.Primary.DSN("temporal")),
				mk("replica", pg.Replica.DSN("temporal")),
				mk("legacy", pg.Primary.DSN("legacy")),
			}
			e := collector.NewEngine(targets, slog.New(slog.NewTextHandler(io.Discard, nil)))
			defer e.Close()

			for _, tg := range targets {
				snap := e.Gather(c, tg)
				if !snap.Up {
					t.Fatalf("%s is down: %v", tg.Name, snap.ProbeErr)
				}
				for _, r := range snap.Results {
					if r.Err != nil {
						t.Errorf("%s: query %s failed: %v", tg.Name, r.Query.Name, r.Err)
					}
				}
				var skipped []string
				for _, s := range snap.Skipped {
					skipped = append(skipped, s.Query.Name)
				}
				sort.Strings(skipped)
				want := expectedSkips(v.Major, tg.Name)
				if !slices.Equal(skipped, want) {
					t.Errorf("%s: skipped %v, want %v", tg.Name, skipped, want)
					for _, s := range snap.Skipped {
						t.Logf("  %s: %s", s.Query.Name, s.Reason)
					}
				}
			}

			for _, db := range []string{"temporal", "other"} {
				checkStatisticsAsViews(t, c, pg, v.Major, db, qs)
			}

			text := scrape(t, e)
			families := parse(t, text)
			for _, x := range expectations(v.Major, hasCron) {
				for _, target := range []string{"primary", "replica"} {
					want := (target == "primary" && x.primary) || (target == "replica" && x.replica)
					got := has(families, x.metric, target, x.labels)
					if got != want {
						t.Errorf("%s on %s: present %v, want %v", x.metric, target, got, want)
					}
				}
			}
			for _, x := range []struct {
				metric, target string
				want           float64
			}{
				{"pg_replication_is_replica", "primary", 0},
				{"pg_replication_is_replica", "replica", 1},
				{"pg_settings_shared_buffers_bytes", "primary", 32 << 20},  // testenv sets 32MB (unit 8kB)
				{"pg_settings_checkpoint_timeout_seconds", "primary", 300}, // unit s
				{"pg_settings_max_wal_size_bytes", "primary", 1 << 30},     // unit MB
				{"pg_settings_autovacuum_naptime_seconds", "primary", 60},
				{"pg_settings_track_io_timing", "primary", 1}, // bool
				{"pg_settings_idle_in_transaction_session_timeout_seconds", "primary", 0},
			} {
				if got, ok := value(t, text, x.metric, x.target); !ok || got != x.want {
					t.Errorf("%s{target=%q} = %v (present %v), want %v", x.metric, x.target, got, ok, x.want)
				}
			}
			// the old extension's variant ran on the legacy database
			if !has(families, "pg_stat_statements_calls_total", "legacy", nil) {
				t.Error("pg_stat_statements on the old extension version gave no metrics")
			}
			testenv.CheckMetrics(t, text)
		})
	}
}

// prepareCluster loads what the queries look at, waits for the replica, and reports whether
// pg_cron could be set up.
func prepareCluster(t *testing.T, c context.Context, pg *testenv.PGCluster, major int) (hasCron bool) {
	t.Helper()
	schema, err := os.ReadFile("../../testdata/seed/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	p := pg.Primary
	exec := func(db string, stmts ...string) {
		t.Helper()
		if err := p.Exec(c, db, stmts...); err != nil {
			t.Fatal(err)
		}
	}
	exec("postgres", "CREATE DATABASE temporal", "CREATE DATABASE other", "CREATE DATABASE legacy")
	if err := p.ExecScript(c, "temporal", string(schema)); err != nil {
		t.Fatalf("schema.sql on PostgreSQL %d: %v", major, err)
	}
	exec("temporal",
		"CREATE EXTENSION pg_stat_statements",
		`INSERT INTO temporal_visibility.executions (namespace_id, run_id, start_time, execution_time, workflow_id, workflow_type_name, status)
		 SELECT 'ns', 'run-' || g, now(), now(), 'wf-' || g, 'type', g % 5 FROM generate_series(1, 500) g`,
		"INSERT INTO temporal.cleanup_log (cleanup_date, table_name, deleted_rows, retention_days) VALUES (now(), 'x', 0, 90)",
		"SELECT count(*) FROM temporal_visibility.executions WHERE workflow_id = 'wf-7'",
		"SELECT count(*) FROM temporal_visibility.executions",
		"ANALYZE",
		"CREATE PUBLICATION dr FOR TABLE temporal.tasks",
		"SELECT pg_create_logical_replication_slot('dr_slot', 'pgoutput')",
	)
	exec("other",
		"CREATE TABLE things (id bigserial PRIMARY KEY, v text)",
		"INSERT INTO things (v) SELECT 'x' FROM generate_series(1, 10)",
		// a HOT update and one that is not (its key changes): statistics that differ
		"UPDATE things SET v = 'y' WHERE id = 2",
		"UPDATE things SET id = 100 WHERE id = 1",
		"CREATE SCHEMA temporal",
		"CREATE TABLE temporal.tasks (range_hash BIGINT NOT NULL, task_queue_id BYTEA NOT NULL, task_id BIGINT NOT NULL, data BYTEA NOT NULL, data_encoding VARCHAR(16) NOT NULL, PRIMARY KEY (range_hash, task_queue_id, task_id))",
		// a date-range partitioned table with a MINVALUE bound and a DEFAULT partition
		"CREATE TABLE days (d date NOT NULL) PARTITION BY RANGE (d)",
		"CREATE TABLE days_old PARTITION OF days FOR VALUES FROM (MINVALUE) TO ('2026-01-01')",
		"CREATE TABLE days_2026 PARTITION OF days FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
		"CREATE TABLE days_default PARTITION OF days DEFAULT",
		fmt.Sprintf("CREATE SUBSCRIPTION dr CONNECTION 'host=127.0.0.1 port=%d dbname=temporal user=postgres' PUBLICATION dr WITH (create_slot = false, slot_name = 'dr_slot', copy_data = false)", p.Port),
	)
	// the extension version a server keeps after pg_upgrade without ALTER EXTENSION UPDATE
	old := "1.7"
	if major >= 17 {
		old = "1.10"
	}
	exec("legacy", "CREATE EXTENSION pg_stat_statements VERSION '"+old+"'")
	if pg.HasLib("pg_cron") {
		exec("postgres", "CREATE EXTENSION pg_cron",
			"SELECT cron.schedule('nightly-cleanup', '0 3 * * *', 'SELECT 1')")
		hasCron = true
	}
	if err := pg.WaitReplayed(c); err != nil {
		t.Fatal(err)
	}
	return hasCron
}

// expectedSkips lists, sorted, the queries a target of a major must skip.
func expectedSkips(major int, target string) []string {
	var s []string
	add := func(cond bool, names ...string) {
		if cond {
			s = append(s, names...)
		}
	}
	add(major < 14, "pg_stat_wal")
	add(major < 15, "pg_stat_subscription_stats")
	add(major < 16, "pg_stat_io")
	add(major < 17, "pg_stat_checkpointer")
	switch target {
	case "primary":
		add(true, "pg_stat_wal_receiver")
		add(major < 14, "pg_stat_statements_info") // extension 1.8 on 13
	case "replica":
		add(true, "pg_stat_replication", "pg_wal_position")
		add(major < 14, "pg_stat_statements_info")
	case "legacy":
		add(true, "pg_stat_wal_receiver")
		add(major < 17, "pg_stat_statements_info") // 1.7 has no pg_stat_statements_info; 1.10 has
	}
	sort.Strings(s)
	return s
}

type expectation struct {
	metric           string
	labels           map[string]string
	primary, replica bool
}

// expectations lists metrics that must be present on the primary, the replica, both or
// neither, for a major.
func expectations(major int, hasCron bool) []expectation {
	both := func(m string, cond bool) expectation { return expectation{metric: m, primary: cond, replica: cond} }
	primary := func(m string, cond bool) expectation { return expectation{metric: m, primary: cond} }
	replica := func(m string, cond bool) expectation { return expectation{metric: m, replica: cond} }
	in := func(m string, db string) expectation {
		return expectation{metric: m, labels: map[string]string{"datname": db}, primary: true, replica: true}
	}
	return []expectation{
		both("pg_up", true),
		both("pg_static", true),
		both("pg_system_info", true),
		both("pg_postmaster_start_time_seconds", true),
		both("pg_settings_max_connections", true),
		both("pg_settings_shared_buffers_bytes", true),
		both("pg_settings_statement_timeout_seconds", true),
		both("pg_settings_track_io_timing", true),
		both("pg_connections_used", true),
		both("pg_stat_database_xact_commit", true),
		both("pg_stat_database_active_time_seconds_total", major >= 14),
		both("pg_stat_database_parallel_workers_launched_total", major >= 18),
		both("pg_stat_database_conflicts_confl_lock", true),
		both("pg_stat_database_conflicts_confl_active_logicalslot_total", major >= 16),
		both("pg_database_size_bytes", true),
		both("pg_database_datfrozenxid_age", true),
		both("pg_stat_activity_count", true),
		both("pg_stat_activity_oldest_xact_age_seconds", true),
		both("pg_locks_count", true),
		primary("pg_stat_replication_pg_wal_lsn_diff", true),
		primary("pg_stat_replication_replay_lag_seconds", true),
		primary("pg_replication_slots_active", true),
		primary("pg_replication_slots_confirmed_flush_lag_bytes", true),
		primary("pg_current_wal_lsn_bytes", true),
		both("pg_replication_is_replica", true),
		replica("pg_replication_replay_lag_bytes", true),
		replica("pg_replication_last_replay_seconds", true),
		replica("pg_replication_replay_paused", true),
		replica("pg_replication_wal_receiver_streaming", true),
		replica("pg_stat_wal_receiver_status", true),
		both("pg_stat_subscription_apply_workers", true),
		both("pg_stat_subscription_enabled", true),
		primary("pg_stat_subscription_received_lag_bytes", true),
		both("pg_stat_subscription_apply_errors_total", major >= 15),
		both("pg_stat_archiver_archived_count", true),
		both("pg_stat_bgwriter_buffers_clean_total", true),
		both("pg_stat_bgwriter_checkpoints_timed_total", major < 17),
		both("pg_stat_checkpointer_num_timed_total", major >= 17),
		both("pg_stat_checkpointer_num_done_total", major >= 18),
		both("pg_stat_wal_records_total", major >= 14),
		both("pg_stat_wal_write_total", major >= 14 && major < 18),
		both("pg_stat_io_reads_total", major >= 16),
		both("pg_stat_io_read_bytes_total", major >= 16),
		in("pg_stat_user_tables_seq_scan", "temporal"),
		in("pg_stat_user_tables_seq_scan", "other"),
		in("pg_stat_user_tables_table_size_bytes", "temporal"),
		// statistics are per server: the replica's tables were not scanned there
		primary("pg_stat_user_tables_last_seq_scan", major >= 16),
		in("pg_stat_user_indexes_idx_scan_total", "temporal"),
		primary("pg_stat_user_indexes_last_idx_scan", major >= 16),
		both("pg_statio_user_indexes_idx_blks_hit_total", true),
		in("pg_sequences_used_ratio", "other"),
		in("pg_partitioned_table_range_end_timestamp_seconds", "temporal"), // the seed's executions_template
		in("pg_partitioned_table_range_end_timestamp_seconds", "other"),
		in("pg_partitioned_table_default_partitions", "other"),
		both("pg_stat_statements_calls_total", true),
		both("pg_stat_statements_seconds_total", true),
		both("pg_stat_statements_wal_bytes_total", true),
		both("pg_stat_statements_info_dealloc_total", major >= 14),
		both("pg_cron_job_active", hasCron),
		both("temporal_metrics_live_tuples", true),
	}
}

// scrape serves /metrics once.
func scrape(t *testing.T, e *collector.Engine) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	e.MetricsHandler(collector.HandlerOpts{DefaultTimeout: 60 * time.Second}).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func parse(t *testing.T, text string) map[string][]model.LabelSet {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]model.LabelSet{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			ls := model.LabelSet{}
			for _, l := range m.GetLabel() {
				ls[model.LabelName(l.GetName())] = model.LabelValue(l.GetValue())
			}
			out[name] = append(out[name], ls)
		}
	}
	return out
}

// value returns the value of a metric's only series for target.
func value(t *testing.T, text, metric, target string) (float64, bool) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	mf, ok := mfs[metric]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "target" && l.GetValue() == target {
				switch {
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Untyped != nil:
					return m.GetUntyped().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// has reports whether a series of metric exists for target with the given labels.
func has(f map[string][]model.LabelSet, metric, target string, labels map[string]string) bool {
	for _, ls := range f[metric] {
		if string(ls["target"]) != target {
			continue
		}
		ok := true
		for k, v := range labels {
			ok = ok && string(ls[model.LabelName(k)]) == v
		}
		if ok {
			return true
		}
	}
	return false
}

// allKinds are the source kinds of the default packs, as cmd/persistence_exporter's table.
func allKinds() queries.SourceKinds {
	return queries.SourceKinds{Kind().Pack, PgbouncerKind().Pack, redis.Kind().Pack, elasticsearch.Kind().Pack, pgbackrest.Kind().Pack}
}
