package postgres

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestPackCannotTurnReadOnlyOff: a pack statement that switches the session's read-only
// default off (or takes a session-level advisory lock) changes nothing for the statements
// after it on the same pooled connection: every write fails, built-in queries still run.
func TestPackCannotTurnReadOnlyOff(t *testing.T) {
	pg := env.Postgres(t)
	c := ctx(t)
	if err := pg.Primary.Exec(c, "postgres",
		"CREATE TABLE IF NOT EXISTS ro_target (id int)", "CREATE SEQUENCE IF NOT EXISTS ro_seq"); err != nil {
		t.Fatal(err)
	}
	s := testSource(t, pg.Primary.DSN("postgres"), 1) // one connection: every statement reuses it
	if _, err := s.Probe(c); err != nil {
		t.Fatal(err)
	}
	run := func(sql string) (*queries.Rows, error) {
		q := &queries.Query{Name: "escape", Body: SQL(sql)}
		return s.Run(c, q, q.Body)
	}
	if _, err := run("SELECT set_config('default_transaction_read_only', 'off', false) AS x"); err != nil {
		t.Fatalf("the pack statement itself: %v", err)
	}
	if _, err := run("SELECT set_config('transaction_read_only', 'off', false) AS x"); err == nil {
		t.Error("set_config('transaction_read_only', 'off') inside the exporter's transaction succeeded")
	}
	if _, err := run("SELECT pg_advisory_lock(424242) AS x"); err != nil {
		t.Fatalf("advisory lock: %v", err)
	}
	rows, err := run("SELECT current_setting('default_transaction_read_only') AS ro, pg_backend_pid() AS pid")
	if err != nil {
		t.Fatal(err)
	}
	if ro := rows.Value(0, 0); ro != "on" {
		t.Errorf("default_transaction_read_only = %v after the pack turned it off, want on", ro)
	}
	for _, write := range []string{
		"CREATE TABLE ro_escaped (id int)",
		"INSERT INTO ro_target VALUES (1)",
		"SELECT nextval('ro_seq') AS n",
		"WITH w AS (INSERT INTO ro_target VALUES (2) RETURNING id) SELECT id FROM w",
	} {
		_, err := run(write)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
			t.Errorf("%s on the exporter's session: err = %v, want a read-only transaction error", write, err)
		}
	}
	// a built-in query still works on the same connection
	if _, err := run("SELECT count(*) AS n FROM pg_stat_activity"); err != nil {
		t.Errorf("a read after the refused writes: %v", err)
	}
	// no write got through, and the advisory lock went with the statement's transaction
	conn, err := pg.Primary.Connect(c, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	var n, locks int
	var exists bool
	if err := conn.QueryRow(c, "SELECT count(*) FROM ro_target").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(c, "SELECT to_regclass('ro_escaped') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 424242").Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if n != 0 || exists || locks != 0 {
		t.Errorf("after the pack's statements: %d rows written, table created %v, %d advisory locks held; want none", n, exists, locks)
	}
	if st := s.Stat(); st.TotalConns() != 1 {
		t.Errorf("the pool holds %d connections, want the one reused connection", st.TotalConns())
	}
}

// TestStuckQueryCostsOnlyItself: another session holds an ACCESS EXCLUSIVE lock on a table
// in a second database, the target's lock_timeout (30 s) and query timeout (20 s) are far
// longer than the scrape (4.5 s), and scrapes follow each other back to back. The target
// stays up and every query of the default pack answers in every scrape, except a query
// that itself waits for that lock, which fails on its own lock timeout.
func TestStuckQueryCostsOnlyItself(t *testing.T) {
	pg := env.Postgres(t)
	c := ctx(t)
	if err := pg.Primary.Exec(c, "postgres", "DROP DATABASE IF EXISTS lockdb", "CREATE DATABASE lockdb"); err != nil {
		t.Fatal(err)
	}
	if err := pg.Primary.Exec(c, "lockdb", "CREATE EXTENSION IF NOT EXISTS pgstattuple",
		"CREATE TABLE executions (id bigint PRIMARY KEY, state text)",
		"INSERT INTO executions SELECT g, 'running' FROM generate_series(1, 20000) g",
		"ANALYZE executions"); err != nil {
		t.Fatal(err)
	}
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(Options{DSN: pg.Primary.DSN("postgres"), MaxConns: 2, StatementTimeout: 30 * time.Second,
		LockTimeout: 30 * time.Second, ConnectTimeout: 5 * time.Second,
		Databases: &Filter{Include: []*regexp.Regexp{regexp.MustCompile(`^(?:postgres|lockdb)$`)}}})
	if err != nil {
		t.Fatal(err)
	}
	target := &collector.Target{Name: "pg", Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src,
		Queries: set.For(queries.SourcePostgres), Timeout: 20 * time.Second, Parallel: 2}
	e := collector.NewEngine([]*collector.Target{target}, slog.New(slog.DiscardHandler))
	defer e.Close()
	zero := time.Duration(0)
	e.TTLCap = &zero // every query runs at every scrape
	scrape := func() *collector.Snapshot {
		sc, cancel := context.WithTimeout(c, 4500*time.Millisecond)
		defer cancel()
		return e.Gather(sc, target)
	}
	for _, r := range scrape().Results {
		if r.Err != nil {
			t.Fatalf("before the lock, %s failed: %v", r.Query.Name, r.Err)
		}
	}

	holder, err := pg.Primary.Connect(c, "lockdb")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	if _, err := holder.Exec(c, "BEGIN; LOCK TABLE executions IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	stuck := map[string]bool{}
	for i := range 5 {
		snap := scrape()
		if !snap.Up {
			t.Fatalf("scrape %d: the target is down while a lock is held elsewhere: %v", i, snap.ProbeErr)
		}
		for _, r := range snap.Results {
			if r.Err == nil {
				continue
			}
			var pgErr *pgconn.PgError
			if errors.As(r.Err, &pgErr) && pgErr.Code == "55P03" && strings.Contains(r.Err.Error(), "lockdb") {
				stuck[r.Query.Name] = true // waits for the lock itself: costs only its own series
				continue
			}
			t.Errorf("scrape %d: %s failed behind the lock: %v", i, r.Query.Name, r.Err)
		}
	}
	if _, err := holder.Exec(c, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if !stuck["pg_table_sizes"] {
		t.Errorf("pg_table_sizes never waited for the lock (stuck: %v): the test did not block anything", stuck)
	}
	t.Logf("queries that waited for the lock themselves: %v", stuck)
}
