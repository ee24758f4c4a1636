package postgres

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

func testSource(t *testing.T, dsn string, maxConns int) *Source {
	t.Helper()
	s, err := New(Options{DSN: dsn, MaxConns: maxConns, StatementTimeout: 5 * time.Second, LockTimeout: time.Second, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestProbeRoles(t *testing.T) {
	pg := env.Postgres(t)
	if err := pg.Primary.Exec(ctx(t), "postgres", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		server *testenv.PGServer
		role   queries.Role
	}{{pg.Primary, queries.RolePrimary}, {pg.Replica, queries.RoleReplica}} {
		info, err := testSource(t, tc.server.DSN("postgres"), 2).Probe(ctx(t))
		if err != nil {
			t.Fatalf("%s: %v", tc.server.Name, err)
		}
		if info.Role != tc.role {
			t.Errorf("%s: role %q, want %q", tc.server.Name, info.Role, tc.role)
		}
		if info.Version != pg.Version {
			t.Errorf("%s: version %d, want %d", tc.server.Name, info.Version, pg.Version)
		}
		if v, ok := info.Features["extension:pg_stat_statements"]; !ok || v == "" {
			t.Errorf("%s: features %v lack extension:pg_stat_statements", tc.server.Name, info.Features)
		}
	}
}

func TestSessionIsReadOnlyAndBounded(t *testing.T) {
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 2)
	rows, err := s.query(ctx(t), mainDB(t, s), `SELECT current_setting('default_transaction_read_only') AS ro,
		current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
		current_setting('application_name') AS app, current_setting('max_parallel_workers_per_gather') AS pw`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"on", "5s", "1s", ApplicationName, "0"}
	for i := range want {
		if got := rows.Value(0, i); got != want[i] {
			t.Errorf("%s = %v, want %v", rows.Columns[i], got, want[i])
		}
	}
	if _, err := s.query(ctx(t), mainDB(t, s), "CREATE TABLE must_not_exist (id int)"); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("a write on the exporter's session: err = %v, want a read-only transaction error", err)
	}
	// once the version is known (15+), statistics are read without a snapshot of them
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	rows, err = s.query(ctx(t), mainDB(t, s), `SELECT coalesce(current_setting('stats_fetch_consistency', true), 'absent')`)
	if err != nil {
		t.Fatal(err)
	}
	want0 := "absent" // before 15
	if pg.Version >= 150000 {
		want0 = "none"
	}
	if got := rows.Value(0, 0); got != want0 {
		t.Errorf("stats_fetch_consistency on %d = %v, want %s", pg.Version, got, want0)
	}
}

// TestExtensionsReadOncePerDatabase: the queries of a gather start at once, and each asks for
// its database's extensions; one of them reads the list, the others wait for it.
func TestExtensionsReadOncePerDatabase(t *testing.T) {
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 2)
	reads := &extensionReads{}
	s.cfg.ConnConfig.Tracer = reads // before the pools are made, at the probe
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			if _, exts, err := s.database(ctx(t), "postgres"); err != nil || exts == nil {
				t.Errorf("database: %v, extensions %v", err, exts)
			}
		})
	}
	wg.Wait()
	if n := reads.n.Load(); n != 1 {
		t.Errorf("the extension list was read %d times, want once", n)
	}
}

// extensionReads counts the statements that read a database's extension list.
type extensionReads struct{ n atomic.Int32 }

func (e *extensionReads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "array_to_string(array_agg(extname") {
		e.n.Add(1)
	}
	return ctx
}

func (e *extensionReads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func TestConnectionCap(t *testing.T) {
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.query(ctx(t), mainDB(t, s), "SELECT pg_sleep(0.2)")
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// while they run, count the exporter's sessions from another connection, as often as
	// it can: the most seen at once is the cap in action
	c, err := pg.Primary.Connect(ctx(t), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx(t))
	n := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		var now int
		if err := c.QueryRow(ctx(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", ApplicationName).Scan(&now); err != nil {
			t.Fatal(err)
		}
		n = max(n, now)
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n < 1 || n > 2 {
		t.Errorf("%d sessions of the exporter during 8 concurrent queries, want 1 or 2", n)
	}
	if st := s.Stat(); st.TotalConns() > 2 {
		t.Errorf("pool holds %d connections, want at most 2", st.TotalConns())
	}
}

func TestValuesAreNormalized(t *testing.T) {
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 1)
	rows, err := s.query(ctx(t), mainDB(t, s), `SELECT 1::int2 AS i2, 2::int4 AS i4, 3::int8 AS i8, 1.5::numeric AS num,
		2.5::float4 AS f4, true AS b, 'x'::name AS nm, 'text' AS txt, NULL::int AS nul,
		interval '1 day 2 seconds' AS iv, 42::oid AS o, '127.0.0.1'::inet AS ip,
		timestamptz '2024-01-02 03:04:05+00' AS ts, 'NaN'::numeric AS nan`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"i2": int64(1), "i4": int64(2), "i8": int64(3), "num": 1.5, "f4": 2.5, "b": true, "nm": "x",
		"txt": "text", "nul": nil, "iv": 86402.0, "o": int64(42), "ip": "127.0.0.1",
		"ts": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for i, c := range rows.Columns {
		v := rows.Value(0, i)
		if c == "nan" {
			if f, ok := v.(float64); !ok || f == f {
				t.Errorf("nan = %#v, want a NaN float64", v)
			}
			continue
		}
		if ts, ok := v.(time.Time); ok {
			if !ts.Equal(want[c].(time.Time)) {
				t.Errorf("%s = %v, want %v", c, ts, want[c])
			}
			continue
		}
		if v != want[c] {
			t.Errorf("%s = %#v, want %#v", c, v, want[c])
		}
	}
}

func TestRecoversAfterRestart(t *testing.T) {
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 2)
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pg.Primary.Stop()
	if _, err := s.Probe(ctx(t)); err == nil {
		t.Fatal("probe of a stopped server succeeded")
	}
	if err := pg.Primary.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitStreaming(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatalf("probe after the restart: %v", err)
	}
	// the same pool keeps working for queries too
	if _, err := s.query(ctx(t), mainDB(t, s), "SELECT 1"); err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
}

func TestDeadServer(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := testSource(t, "postgres://exporter:Hidden-Pw-123@127.0.0.1:"+strconv.Itoa(port)+"/postgres?sslmode=disable", 2)
	_, err = s.Probe(ctx(t))
	if err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "Hidden-Pw-123") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestBadDSN(t *testing.T) {
	_, err := New(Options{DSN: "postgres://u:Hidden-Pw-123@host:notaport/db"})
	if err == nil {
		t.Fatal("a DSN with a bad port was accepted")
	}
	if strings.Contains(err.Error(), "Hidden-Pw-123") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// TestDatabaseScope: a database-scoped query runs in every database the patterns allow,
// checks its requirements in each, leaves out the schemas excluded and the databases the
// exporter may not enter, and keeps one small pool per database between runs.
func TestDatabaseScope(t *testing.T) {
	pg := env.Postgres(t)
	c := ctx(t)
	if err := pg.Primary.Exec(c, "postgres",
		"CREATE DATABASE scope_a", "CREATE DATABASE scope_b", "CREATE DATABASE scope_skip", "CREATE DATABASE scope_locked",
		"CREATE ROLE scope_reader LOGIN", "GRANT pg_monitor TO scope_reader",
		"REVOKE CONNECT ON DATABASE scope_locked FROM PUBLIC"); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"scope_a", "scope_b", "scope_skip", "scope_locked"} {
		if err := pg.Primary.Exec(c, db, "CREATE TABLE visible (id int)", "CREATE SCHEMA hidden", "CREATE TABLE hidden.t (id int)"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pg.Primary.Exec(c, "scope_a", "CREATE EXTENSION pgstattuple"); err != nil {
		t.Fatal(err)
	}
	filter := func(include, exclude string) *Filter {
		f := &Filter{}
		if include != "" {
			f.Include = append(f.Include, regexp.MustCompile("^(?:"+include+")$"))
		}
		if exclude != "" {
			f.Exclude = append(f.Exclude, regexp.MustCompile("^(?:"+exclude+")$"))
		}
		return f
	}
	var logs bytes.Buffer
	s, err := New(Options{
		DSN: strings.Replace(pg.Primary.DSN("postgres"), "postgres@", "scope_reader@", 1), MaxConns: 2,
		ConnectTimeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Databases: filter("scope_.*", "scope_skip"), Schemas: filter("", "hidden"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Probe(c); err != nil {
		t.Fatal(err)
	}
	tables := &queries.Query{Name: "tables", Scope: queries.ScopeDatabase,
		Body: SQL("SELECT current_database() AS datname, schemaname, relname FROM pg_stat_user_tables")}
	rows, err := s.Run(c, tables, tables.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range rows.Len() {
		got = append(got, fmt.Sprintf("%s.%s.%s", rows.Value(i, 0), rows.Value(i, 1), rows.Value(i, 2)))
	}
	sort.Strings(got)
	if want := []string{"scope_a.public.visible", "scope_b.public.visible"}; !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	if !strings.Contains(logs.String(), "scope_locked") {
		t.Errorf("the database without CONNECT privilege was not reported: %q", logs.String())
	}

	// requirements are checked per database: pgstattuple exists in scope_a only
	ext := &queries.Query{Name: "ext", Scope: queries.ScopeDatabase, Requires: []string{"extension:pgstattuple"},
		Body: SQL("SELECT current_database() AS datname")}
	rows, err = s.Run(c, ext, ext.Body)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Len() != 1 || rows.Value(0, 0) != "scope_a" {
		t.Errorf("%d rows, want only scope_a", rows.Len())
	}

	// one connection per other database, kept between runs
	if _, err := s.Run(c, tables, tables.Body); err != nil {
		t.Fatal(err)
	}
	check, err := pg.Primary.Connect(c, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close(c)
	var n int
	if err := check.QueryRow(c, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'scope_reader' AND datname IN ('scope_a', 'scope_b')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d sessions in scope_a and scope_b, want 1 each", n)
	}

	// a dropped database leaves the list at the next probe, and its pool is closed
	if err := pg.Primary.Exec(c, "postgres", "DROP DATABASE scope_b WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Probe(c); err != nil {
		t.Fatal(err)
	}
	rows, err = s.Run(c, tables, tables.Body)
	if err != nil {
		t.Fatal(err)
	}
	if rows.Len() != 1 {
		t.Errorf("after dropping scope_b: %d rows", rows.Len())
	}
}

// mainDB is the DSN database of s, its pools made.
func mainDB(t *testing.T, s *Source) *database {
	t.Helper()
	p, err := s.pools()
	if err != nil {
		t.Fatal(err)
	}
	return p.main
}

// TestPoolsAreMadeAtFirstUse: a source costs no pool (and no pool goroutine) until it is
// gathered: 1,000 targets loaded and never probed start nothing.
func TestPoolsAreMadeAtFirstUse(t *testing.T) {
	before := runtime.NumGoroutine()
	var srcs []*Source
	for i := range 1000 {
		s, err := New(Options{DSN: fmt.Sprintf("postgres://u:pw@127.0.0.1:%d/db", 1024+i), MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	if n := runtime.NumGoroutine() - before; n > 10 {
		t.Errorf("1,000 sources never probed started %d goroutines, want none", n)
	}
	for _, s := range srcs {
		if s.open != nil {
			t.Fatal("a pool was made at load")
		}
		s.Close()
	}
	pg := env.Postgres(t)
	s := testSource(t, pg.Primary.DSN("postgres"), 2)
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if s.open == nil {
		t.Error("no pool after the first probe")
	}
}
