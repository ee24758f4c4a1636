package advisor_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

func ctx(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

// newRunner builds the advisor over a test cluster's primary and replica as serve does: the
// default packs, one engine, hypothetical indexes through the sources.
func newRunner(t *testing.T, pg *testenv.PGCluster, db string, cfg advisor.Config) *advisor.Runner {
	t.Helper()
	return newRunnerWith(t, pg, db, cfg, defaultSet(t))
}

// newRunnerWith is newRunner with the packs of set.
func newRunnerWith(t *testing.T, pg *testenv.PGCluster, db string, cfg advisor.Config, set *queries.Set) *advisor.Runner {
	t.Helper()
	logger := testLogger(t)
	hyp := postgres.Hypothetical{}
	var targets []*collector.Target
	for _, s := range []*testenv.PGServer{pg.Primary, pg.Replica} {
		target, src := pgTarget(t, s.Name, s.DSN(db), set.For(queries.SourcePostgres), logger)
		hyp[s.Name] = src
		targets = append(targets, target)
	}
	return withEngine(t, &advisor.Runner{Checks: advisor.DefaultChecks(), Config: cfg, Tester: hyp, History: advisor.NewHistory()},
		targets, logger)
}

// defaultSet is the default packs of every kind.
func defaultSet(t *testing.T) *queries.Set {
	t.Helper()
	set, err := queries.DefaultSet(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// testLogger logs warnings and errors into the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// pgTarget is a PostgreSQL target on dsn that runs qs, as the runners here build them.
func pgTarget(t *testing.T, name, dsn string, qs []*queries.Query, logger *slog.Logger) (*collector.Target, *postgres.Source) {
	t.Helper()
	src, err := postgres.New(postgres.Options{DSN: dsn, MaxConns: 2, StatementTimeout: time.Minute,
		ConnectTimeout: 10 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	return &collector.Target{Name: name, Kind: queries.SourcePostgres, UpMetric: "pg_up",
		Source: src, Queries: qs, Timeout: time.Minute, Parallel: 2}, src
}

// withEngine completes r with one engine over targets, closed when the test ends, and the
// logger.
func withEngine(t *testing.T, r *advisor.Runner, targets []*collector.Target, logger *slog.Logger) *advisor.Runner {
	eng := collector.NewEngine(targets, logger)
	t.Cleanup(eng.Close)
	r.Engine, r.Targets, r.Log = eng, targets, logger
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// loadSeed creates database temporal with the seed's schema and the extensions the advisor
// uses.
func loadSeed(t *testing.T, pg *testenv.PGCluster) {
	t.Helper()
	c := ctx(t, 2*time.Minute)
	schema := testenv.ReadFile(t, "../testdata/seed/schema.sql")
	if err := pg.Primary.Exec(c, "postgres", "CREATE DATABASE temporal"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Primary.ExecScript(c, "temporal", string(schema)); err != nil {
		t.Fatalf("schema.sql: %v", err)
	}
	if err := pg.Primary.Exec(c, "temporal", "CREATE EXTENSION pg_stat_statements", "CREATE EXTENSION pgstattuple",
		"CREATE EXTENSION hypopg"); err != nil {
		t.Fatal(err)
	}
}

// planted is the report of a cluster with every problem the advisor looks for planted in it.
type planted struct {
	once   sync.Once
	report *advisor.Report
	slowID string // queryid of the planted slow statement
	err    string
}

var plantedRun planted

// plantedReport builds the planted cluster once per package run and runs the advisor on it.
func plantedReport(t *testing.T) (*advisor.Report, string) {
	t.Helper()
	pg := env.PostgresNamed(t, "planted", testenv.PGOptions{Replica: true, Conf: []string{"max_connections = 30"}})
	plantedRun.once.Do(func() {
		rep, id, err := plant(t, pg)
		if err != nil {
			plantedRun.err = err.Error()
			return
		}
		plantedRun.report, plantedRun.slowID = rep, id
	})
	if plantedRun.err != "" {
		t.Fatalf("planting problems: %s", plantedRun.err)
	}
	return plantedRun.report, plantedRun.slowID
}

func plant(t *testing.T, pg *testenv.PGCluster) (*advisor.Report, string, error) {
	loadSeed(t, pg)
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pg.Primary
	if err := p.Exec(c, "temporal",
		// bloat: 90% of the rows deleted and vacuumed; the pages stay (each keeps a row)
		"CREATE TABLE public.planted_bloat (id int PRIMARY KEY, pad text) WITH (autovacuum_enabled = off)",
		"INSERT INTO public.planted_bloat SELECT g, repeat('x', 200) FROM generate_series(1, 60000) g",
		"DELETE FROM public.planted_bloat WHERE id % 10 <> 0",
		// retention: the oldest 80% deleted at once; VACUUM deletes the emptied index pages,
		// which stay in the files while the remaining leaves are full
		"CREATE TABLE public.planted_retention (id bigint PRIMARY KEY, created_at timestamptz) WITH (autovacuum_enabled = off)",
		"INSERT INTO public.planted_retention SELECT g, now() + g * interval '1 s' FROM generate_series(1, 100000) g",
		"CREATE INDEX planted_retention_created ON public.planted_retention (created_at)",
		"DELETE FROM public.planted_retention WHERE id <= 80000",
		// an index filled in random key order: its leaves settle about 70 % full, which is
		// its normal state, not bloat
		"CREATE TABLE public.planted_random (k text PRIMARY KEY, v int)",
		"INSERT INTO public.planted_random SELECT md5(g::text), g FROM generate_series(1, 150000) g",
		"ANALYZE public.planted_random",
		// dead rows autovacuum is not allowed to clean
		"CREATE TABLE public.planted_dead (id int, v int) WITH (autovacuum_enabled = off)",
		"INSERT INTO public.planted_dead SELECT g, g FROM generate_series(1, 20000) g",
		"ANALYZE public.planted_dead",
		"DELETE FROM public.planted_dead WHERE id > 5000",
		// a table read by sequential scans
		"CREATE TABLE public.planted_scan (id int, customer int, pad text)",
		"INSERT INTO public.planted_scan SELECT g, g % 1000, repeat('y', 100) FROM generate_series(1, 40000) g",
		"ANALYZE public.planted_scan",
		// an index no one uses
		"CREATE TABLE public.planted_unused (id int, v int)",
		"INSERT INTO public.planted_unused SELECT g, g FROM generate_series(1, 1000) g",
		"CREATE INDEX planted_unused_v ON public.planted_unused (v)",
		// a sequence at 93% of its range
		"CREATE SEQUENCE public.planted_seq AS integer",
		"SELECT setval('public.planted_seq', 2000000000)",
		// the failed CREATE INDEX CONCURRENTLY below leaves an invalid index
		"CREATE TABLE public.planted_invalid (v int)",
		"INSERT INTO public.planted_invalid VALUES (1), (1)",
	); err != nil {
		return nil, "", err
	}
	// a new session: the DELETE's statistics are flushed when its session ends, and would
	// otherwise land after VACUUM's and count the removed rows as dead again
	if err := p.Exec(c, "temporal", "VACUUM public.planted_bloat", "ANALYZE public.planted_bloat",
		"VACUUM public.planted_retention", "ANALYZE public.planted_retention"); err != nil {
		return nil, "", err
	}
	if err := p.Exec(c, "temporal", "CREATE UNIQUE INDEX CONCURRENTLY planted_invalid_v ON public.planted_invalid (v)"); err == nil {
		return nil, "", fmt.Errorf("a unique index over duplicates was built")
	}
	for i := range 12 {
		if err := p.Exec(c, "temporal", fmt.Sprintf("SELECT count(*) FROM public.planted_scan WHERE customer = %d", i)); err != nil {
			return nil, "", err
		}
	}
	// a statement taking 1.2 s, three times (at once, to save the time)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Exec(c, "temporal", "SELECT pg_sleep(1.2) AS planted_slow")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, "", err
		}
	}
	var slowID string
	conn, err := p.Connect(c, "temporal")
	if err != nil {
		return nil, "", err
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(c, "SELECT queryid::text FROM pg_stat_statements WHERE query LIKE '%planted_slow%'").Scan(&slowID); err != nil {
		return nil, "", fmt.Errorf("the slow statement is not in pg_stat_statements: %w", err)
	}
	// an inactive slot that keeps WAL from now on
	if _, err := conn.Exec(c, "SELECT pg_create_physical_replication_slot('planted_slot', true)"); err != nil {
		return nil, "", err
	}
	if err := pg.WaitReplayed(c); err != nil {
		return nil, "", err
	}
	// replay paused on the replica while the primary writes 4 MiB of WAL
	if err := pg.Replica.Exec(c, "postgres", "SELECT pg_wal_replay_pause()"); err != nil {
		return nil, "", err
	}
	if err := p.Exec(c, "postgres", "CREATE TABLE planted_lag AS SELECT g, repeat('z', 100) AS pad FROM generate_series(1, 30000) g"); err != nil {
		return nil, "", err
	}
	if err := waitFor(c, conn, "SELECT coalesce(bool_and(pg_wal_lsn_diff(flush_lsn, replay_lsn) > 2 * 1024 * 1024), false) FROM pg_stat_replication"); err != nil {
		return nil, "", fmt.Errorf("the replica does not fall behind: %w", err)
	}
	// a session idle in its transaction, and connections that fill most slots; they stay
	// open until the run is over
	idle, err := p.Connect(c, "temporal")
	if err != nil {
		return nil, "", err
	}
	defer idle.Close(context.Background())
	if _, err := idle.Exec(c, "BEGIN"); err != nil {
		return nil, "", err
	}
	if _, err := idle.Exec(c, "SELECT txid_current()"); err != nil {
		return nil, "", err
	}
	for range 16 {
		hold, err := p.Connect(c, "postgres")
		if err != nil {
			return nil, "", err
		}
		defer hold.Close(context.Background())
	}
	time.Sleep(1500 * time.Millisecond) // past the idle and long transaction thresholds below

	cfg := advisor.DefaultConfig()
	th := &cfg.Thresholds
	th.UnusedIndexMinWindow, th.UnusedIndexMinSize = 0, 0
	th.BloatMinSize, th.MissingIndexMinSize = 1<<20, 1<<20
	th.BloatMinWaste = 256 << 10
	th.SlotRetainedBytes = 1 << 20
	th.IdleInTransaction, th.LongTransaction = time.Second, time.Second
	th.ConnectionsWarning, th.ConnectionsCritical = 0.5, 0.99
	r := newRunner(t, pg, "temporal", cfg)
	rep := r.Run(c)
	if err := pg.Replica.Exec(c, "postgres", "SELECT pg_wal_replay_resume()"); err != nil {
		return nil, "", err
	}
	return rep, slowID, nil
}

func waitFor(c context.Context, conn *pgx.Conn, query string) error {
	for {
		var ok bool
		if err := conn.QueryRow(c, query).Scan(&ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-c.Done():
			return c.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// find returns the findings of a check on a target whose object ends with object.
func find(rep *advisor.Report, check, target, object string) []advisor.Finding {
	var out []advisor.Finding
	for _, f := range rep.Findings {
		if f.Check == check && f.Target == target && strings.HasSuffix(f.Object, object) {
			out = append(out, f)
		}
	}
	return out
}

func evidence(f advisor.Finding, name string) string {
	for _, e := range f.Evidence {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func TestPlantedProblems(t *testing.T) {
	rep, slowID := plantedReport(t)
	for _, tg := range rep.Targets {
		if !tg.Up {
			t.Fatalf("target %s is down: %s", tg.Name, tg.Error)
		}
	}
	cases := []struct {
		check, target, object string
		min                   advisor.Severity
		fix                   string // in the fix text
		evidence              map[string]string
	}{
		{"replication_lag", "primary", "replica:replica1", advisor.Warning, "pg_is_wal_replay_paused()", nil},
		{"replay_paused", "replica1", "replay", advisor.Warning, "SELECT pg_wal_replay_resume();", nil},
		{"replication_slot", "primary", "slot:planted_slot", advisor.Warning, "SELECT pg_drop_replication_slot('planted_slot');", map[string]string{"active": "false"}},
		{"table_bloat", "primary", "public.planted_bloat", advisor.Warning, "VACUUM (FULL, ANALYZE, VERBOSE) public.planted_bloat;", nil},
		{"table_bloat", "primary", "public.planted_retention", advisor.Warning, "VACUUM (FULL, ANALYZE, VERBOSE) public.planted_retention;", nil},
		{"index_bloat", "primary", "public.planted_retention_created", advisor.Warning, "REINDEX INDEX CONCURRENTLY public.planted_retention_created;", nil},
		{"index_bloat", "primary", "public.planted_retention_pkey", advisor.Warning, "REINDEX INDEX CONCURRENTLY public.planted_retention_pkey;", nil},
		{"dead_tuples", "primary", "public.planted_dead", advisor.Warning, "ALTER TABLE public.planted_dead RESET (autovacuum_enabled);", map[string]string{"n_dead_tup": "15000"}},
		{"slow_query", "primary", "queryid:" + slowID, advisor.Warning, "EXPLAIN (ANALYZE, BUFFERS) SELECT pg_sleep($1) AS planted_slow", map[string]string{"calls": "3"}},
		{"unused_index", "primary", "public.planted_unused_v", advisor.Warning, "DROP INDEX CONCURRENTLY public.planted_unused_v;", map[string]string{"idx_scan": "primary 0, replica1 0"}},
		{"redundant_index", "primary", "temporal_visibility.idx_executions_status", advisor.Warning, "DROP INDEX CONCURRENTLY temporal_visibility.idx_executions_status;", nil},
		{"redundant_index", "primary", "temporal_visibility.idx_executions_workflow_type", advisor.Warning, "DROP INDEX CONCURRENTLY temporal_visibility.idx_executions_workflow_type;", nil},
		{"redundant_index", "primary", "temporal_visibility.idx_executions_task_queue", advisor.Warning, "DROP INDEX CONCURRENTLY temporal_visibility.idx_executions_task_queue;", nil},
		{"missing_index", "primary", "public.planted_scan", advisor.Warning, "CREATE INDEX CONCURRENTLY ON public.planted_scan (customer);", map[string]string{"seq_scan": "12"}},
		{"invalid_index", "primary", "public.planted_invalid_v", advisor.Warning, "REINDEX INDEX CONCURRENTLY public.planted_invalid_v;", nil},
		{"sequence_exhaustion", "primary", "public.planted_seq", advisor.Critical, "ALTER SEQUENCE public.planted_seq AS bigint;", nil},
		{"long_transaction", "primary", "transactions", advisor.Warning, "pg_terminate_backend", nil},
		{"long_transaction", "primary", "idle_in_transaction", advisor.Warning, "idle_in_transaction_session_timeout = '1s'", nil},
		{"connections", "primary", "connections", advisor.Warning, "pgbouncer", nil},
	}
	for _, tc := range cases {
		t.Run(tc.check+"/"+tc.object, func(t *testing.T) {
			fs := find(rep, tc.check, tc.target, tc.object)
			if len(fs) != 1 {
				t.Fatalf("want one %s finding on %s for %s, got %d", tc.check, tc.target, tc.object, len(fs))
			}
			f := fs[0]
			if f.Severity < tc.min {
				t.Errorf("severity %s, want at least %s", f.Severity, tc.min)
			}
			if !strings.Contains(f.Fix.Text, tc.fix) {
				t.Errorf("fix %q lacks %q", f.Fix.Text, tc.fix)
			}
			if f.Summary == "" || f.Fix.Why == "" || f.Fix.Kind == "" || f.ID == "" {
				t.Errorf("incomplete finding: %+v", f)
			}
			for name, want := range tc.evidence {
				if got := evidence(f, name); got != want {
					t.Errorf("evidence %s = %q, want %q", name, got, want)
				}
			}
		})
	}
	t.Run("nothing else at warning or worse", func(t *testing.T) {
		for _, f := range rep.Findings {
			expected := f.Severity < advisor.Warning ||
				// the deleted rows also left the primary key sparse
				f.Check == "index_bloat" && strings.HasSuffix(f.Object, "public.planted_bloat_pkey") ||
				// with no minimum window, the seed's indexes nobody queried are unused too
				f.Check == "unused_index" && (strings.Contains(f.Object, "temporal_visibility.") || strings.HasSuffix(f.Object, "public.planted_retention_created"))
			for _, tc := range cases {
				expected = expected || f.Check == tc.check && f.Target == tc.target && strings.HasSuffix(f.Object, tc.object)
			}
			if !expected {
				t.Errorf("unexpected %s %s on %s %s: %s", f.Severity, f.Check, f.Target, f.Object, f.Summary)
			}
		}
	})
	t.Run("a btree at its steady-state density is no bloat", func(t *testing.T) {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pg := env.PostgresNamed(t, "planted", testenv.PGOptions{Replica: true, Conf: []string{"max_connections = 30"}})
		conn, err := pg.Primary.Connect(c, "temporal")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(c)
		var density float64
		if err := conn.QueryRow(c, "SELECT avg_leaf_density FROM pgstatindex('public.planted_random_pkey')").Scan(&density); err != nil {
			t.Fatal(err)
		}
		if density > 80 {
			t.Fatalf("the random-order index is %g%% dense: the setup did not split its leaves", density)
		}
		if fs := find(rep, "index_bloat", "primary", "public.planted_random_pkey"); len(fs) > 0 {
			t.Errorf("an index at %g%% leaf density, its steady state, is reported: %s", density, fs[0].Summary)
		}
	})
	t.Run("bloat is measured beside the estimate", func(t *testing.T) {
		fs := find(rep, "table_bloat", "primary", "public.planted_bloat")
		if len(fs) != 1 {
			t.Skip("no bloat finding: reported above")
		}
		est, meas := evidence(fs[0], "estimated bloat"), evidence(fs[0], "measured bloat")
		if !strings.HasPrefix(est, "8") && !strings.HasPrefix(est, "9") {
			t.Errorf("estimated bloat %q, want about 90%%", est)
		}
		if !strings.HasPrefix(meas, "8") && !strings.HasPrefix(meas, "9") {
			t.Errorf("measured bloat %q, want about 90%% (pgstattuple_approx)", meas)
		}
	})
	t.Run("the hypothetical index is tried", func(t *testing.T) {
		fs := find(rep, "missing_index", "primary", "public.planted_scan")
		if len(fs) != 1 {
			t.Skip("no missing-index finding: reported above")
		}
		before, after := evidence(fs[0], "plan cost without the index"), evidence(fs[0], "plan cost with it (hypopg)")
		var b, a float64
		if _, err := fmt.Sscan(before, &b); err != nil {
			t.Fatalf("no plan cost before: %v (%+v)", err, fs[0].Evidence)
		}
		if _, err := fmt.Sscan(after, &a); err != nil {
			t.Fatalf("no plan cost after: %v", err)
		}
		if a <= 0 || a > b/2 {
			t.Errorf("plan cost %g with the index, %g without: the index should help", a, b)
		}
		if fs[0].Severity != advisor.Warning {
			t.Errorf("severity %s, want warning", fs[0].Severity)
		}
	})
	t.Run("the exporter's own statements are left out", func(t *testing.T) {
		for _, f := range rep.Findings {
			if (f.Check == "slow_query" || f.Check == "top_statement") && strings.Contains(evidence(f, "query"), "persistence_exporter") {
				t.Errorf("finding on the exporter's own statement: %s", evidence(f, "query"))
			}
		}
	})
	t.Run("the slow statement's evidence", func(t *testing.T) {
		fs := find(rep, "slow_query", "primary", "queryid:"+slowID)
		if len(fs) != 1 {
			t.Skip("no slow-query finding: reported above")
		}
		f := fs[0]
		if q := evidence(f, "query"); q != "SELECT pg_sleep($1) AS planted_slow" {
			t.Errorf("query %q", q)
		}
		if m := evidence(f, "mean"); m != "1.2 s" {
			t.Errorf("mean %q, want 1.2 s", m)
		}
		if f.Window == nil || f.Window.Basis == "" {
			t.Errorf("no window: %+v", f.Window)
		}
	})
	if t.Failed() || os.Getenv("PE_SHOW_REPORT") != "" {
		var b strings.Builder
		_ = advisor.WriteText(&b, rep)
		t.Logf("the report:\n%s", b.String())
	}
}

// TestHealthyCluster: a freshly built cluster with the seed's schema (its redundant indexes
// dropped), a light workload and the default thresholds has nothing at warning or worse.
func TestHealthyCluster(t *testing.T) {
	pg := env.PostgresNamed(t, "healthy", testenv.PGOptions{Replica: true})
	loadSeed(t, pg)
	c := ctx(t, 2*time.Minute)
	stmts := []string{
		"DROP INDEX temporal_visibility.idx_executions_status",
		"DROP INDEX temporal_visibility.idx_executions_workflow_type",
		"DROP INDEX temporal_visibility.idx_executions_task_queue",
		`INSERT INTO temporal_visibility.executions (namespace_id, run_id, workflow_id, workflow_type_name, status, start_time, execution_time, task_queue, search_attributes)
		 SELECT 'ns-' || (g % 3), md5(g::text), 'wf-' || g, 'type-' || (g % 7), 1, now() - g * interval '1 second', now(), 'queue-' || (g % 5), '{}'::jsonb
		 FROM generate_series(1, 2000) g`,
		"ANALYZE",
	}
	for i := range 20 {
		stmts = append(stmts, fmt.Sprintf("SELECT * FROM temporal_visibility.executions WHERE namespace_id = 'ns-1' AND workflow_id = 'wf-%d'", i))
	}
	if err := pg.Primary.Exec(c, "temporal", stmts...); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(c); err != nil {
		t.Fatal(err)
	}
	r := newRunner(t, pg, "temporal", advisor.DefaultConfig())
	rep := r.Run(c)
	for _, tg := range rep.Targets {
		if !tg.Up {
			t.Fatalf("target %s is down: %s", tg.Name, tg.Error)
		}
	}
	if len(rep.Checks) != len(advisor.DefaultChecks()) {
		t.Errorf("%d checks ran, want %d", len(rep.Checks), len(advisor.DefaultChecks()))
	}
	for _, f := range rep.Findings {
		if f.Severity >= advisor.Warning {
			t.Errorf("%s %s on %s %s: %s %v", f.Severity, f.Check, f.Target, f.Object, f.Summary, f.Evidence)
		}
	}
	for _, s := range rep.Skipped {
		t.Errorf("check %s skipped %s: %s", s.Check, s.Target, s.Reason)
	}
	if rep.MaxSeverity() >= advisor.Warning {
		t.Errorf("max severity %s", rep.MaxSeverity())
	}
}
