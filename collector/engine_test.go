package collector

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

// testPack exercises the engine's gates and failure handling on a real server.
const testPack = `queries:
  - name: t_shared
    help: Run by concurrent scrapes; must execute once.
    sql: SELECT count(*) AS n, pg_sleep(0.3)::text AS s FROM pg_class /* t_shared */
    columns: [{name: n, usage: gauge}]
  - name: t_slow
    help: Slower than the scrape deadline.
    sql: SELECT 1 AS v FROM pg_sleep(3)
    columns: [{name: v, usage: gauge}]
  - name: t_broken
    help: Fails on every server.
    sql: SELECT no_such_column AS v FROM pg_class
    columns: [{name: v, usage: gauge}]
  - name: t_future
    help: Gated to a version no server has /* t_future */
    min_version: 990000
    sql: SELECT 1 AS v /* t_future */
    columns: [{name: v, usage: gauge}]
  - name: t_primary_only
    help: Errors on a replica, so must never be sent there.
    roles: [primary]
    sql: SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') AS v
    columns: [{name: v, usage: gauge}]
  - name: t_needs_ext
    help: Needs an extension nobody has.
    requires: [extension:no_such_extension]
    sql: SELECT 1 AS v
    columns: [{name: v, usage: gauge}]
  - name: t_top
    help: Five rows, of which the metrics carry the largest.
    top: {n: 2, by: v}
    sql: SELECT g::text AS l, g AS v FROM generate_series(1, 5) g
    columns: [{name: l, usage: label}, {name: v, usage: gauge}]
  - name: t_dup
    help: Returns the same label values twice.
    sql: SELECT 'a' AS l, 1 AS v UNION ALL SELECT 'a', 2
    columns: [{name: l, usage: label}, {name: v, usage: gauge}]
`

func ctxT(t *testing.T, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}

func source(t *testing.T, dsn string) *postgres.Source {
	t.Helper()
	s, err := postgres.New(postgres.Options{DSN: dsn, MaxConns: 2, StatementTimeout: 10 * time.Second, LockTimeout: time.Second, ConnectTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newEngine builds an engine over the primary, the replica and a closed port, running the
// default packs and testPack.
func newEngine(t *testing.T, only ...string) *Engine {
	t.Helper()
	pg := env.Postgres(t)
	if err := pg.Primary.Exec(ctxT(t, 10*time.Second), "postgres", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	defaults, err := queries.Defaults(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	tp, err := queries.Parse("test.yaml", []byte(testPack), kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.NewSet(defaults, []*queries.Pack{tp})
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(queries.SourcePostgres)
	if len(only) > 0 {
		var sel []*queries.Query
		for _, q := range qs {
			for _, o := range only {
				if q.Name == o {
					sel = append(sel, q)
				}
			}
		}
		qs = sel
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name, dsn string) *Target {
		return &Target{Name: name, Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: source(t, dsn),
			Queries: qs, Timeout: 5 * time.Second, Parallel: 2}
	}
	e := NewEngine([]*Target{
		mk("primary", pg.Primary.DSN("postgres")),
		mk("replica", pg.Replica.DSN("postgres")),
		mk("dead", fmt.Sprintf("postgres://postgres:Dead-Target-Pw@127.0.0.1:%d/postgres?sslmode=disable", port)),
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(e.Close)
	return e
}

// scrapeText collects like /metrics (withTarget) or /probe and returns the exposition text.
func scrapeText(t *testing.T, e *Engine, ctx context.Context, targets []*Target, withTarget bool) string {
	t.Helper()
	return testenv.GatherText(t, &scrapeGatherer{ctx: ctx, engine: e, targets: targets, withTarget: withTarget})
}

func requireLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(text, l) {
			t.Errorf("the scrape lacks %q", l)
		}
	}
}

func forbidLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if strings.Contains(text, l) {
			t.Errorf("the scrape has %q", l)
		}
	}
}

func TestScrapeAllTargets(t *testing.T) {
	e := newEngine(t)
	text := scrapeText(t, e, ctxT(t, 2*time.Second), e.Targets, true)
	requireLines(t, text,
		`pg_up{target="primary"} 1`,
		`pg_up{target="replica"} 1`,
		`pg_up{target="dead"} 0`,
		`pg_stat_database_xact_commit{datid="`,
		`# TYPE pg_stat_database_xact_commit untyped`,
		`persistence_exporter_query_enabled{query="t_future",target="primary"} 0`,
		`persistence_exporter_query_enabled{query="t_needs_ext",target="primary"} 0`,
		`persistence_exporter_query_enabled{query="t_primary_only",target="replica"} 0`,
		`persistence_exporter_query_enabled{query="t_primary_only",target="primary"} 1`,
		`persistence_exporter_query_errors_total{query="t_broken",target="primary"} 1`,
		`persistence_exporter_query_errors_total{query="t_primary_only",target="primary"} 0`,
		`t_dup_v{l="a",target="primary"} 1`,
	)
	forbidLines(t, text,
		`t_slow_v{`,   // past the deadline
		`t_broken_v{`, // failed
		`target="dead",`,
		`t_dup_v{l="a",target="primary"} 2`,
		"Dead-Target-Pw",
	)
	// the slow query counts as an error of this scrape
	requireLines(t, text, `persistence_exporter_query_errors_total{query="t_slow",target="primary"} 1`)
}

func TestScrapeIsLintClean(t *testing.T) {
	e := newEngine(t)
	g := &scrapeGatherer{ctx: ctxT(t, 5*time.Second), engine: e, targets: e.Targets, withTarget: true}
	problems, err := testutil.GatherAndLint(g)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestProbeHasNoTargetLabel(t *testing.T) {
	e := newEngine(t, "pg_stat_database")
	text := scrapeText(t, e, ctxT(t, 5*time.Second), []*Target{e.Target("replica")}, false)
	requireLines(t, text, "pg_up 1\n", `pg_stat_database_numbackends{datid="`)
	forbidLines(t, text, `target=`)
}

func TestConcurrentScrapesShareExecutions(t *testing.T) {
	e := newEngine(t, "t_shared", "t_future")
	pg := env.Postgres(t)
	calls := func() int64 {
		c, err := pg.Primary.Connect(ctxT(t, 5*time.Second), "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		var n int64
		err = c.QueryRow(context.Background(), `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE query LIKE '%t_shared%' AND query NOT LIKE '%pg_stat_statements%'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	sent := func(marker string) int64 {
		c, err := pg.Primary.Connect(ctxT(t, 5*time.Second), "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		var n int64
		err = c.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%'||$1||'%' AND query NOT LIKE '%pg_stat_statements%'`, marker).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := calls()
	primary := e.Target("primary")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap := e.Gather(ctxT(t, 5*time.Second), primary)
			if len(snap.Results) != 1 || snap.Results[0].Err != nil {
				t.Errorf("snapshot %+v", snap.Results)
			}
		}()
	}
	wg.Wait()
	if got := calls() - before; got != 1 {
		t.Errorf("10 concurrent scrapes executed the query %d times, want 1", got)
	}
	if n := sent("t_future"); n != 0 {
		t.Errorf("a query gated to version 99 reached the server %d times", n)
	}
}

func TestTopN(t *testing.T) {
	e := newEngine(t, "t_top")
	e.Target("replica").TopN = map[string]int{"t_top": 3}
	text := scrapeText(t, e, ctxT(t, 5*time.Second), e.Targets, true)
	requireLines(t, text,
		`t_top_v{l="5",target="primary"} 5`, `t_top_v{l="4",target="primary"} 4`,
		`t_top_v{l="5",target="replica"} 5`, `t_top_v{l="4",target="replica"} 4`, `t_top_v{l="3",target="replica"} 3`)
	forbidLines(t, text, `t_top_v{l="3",target="primary"}`, `t_top_v{l="2",`, `t_top_v{l="1",`)
	// the store keeps every row for the advisor
	if r := e.Store().Last(key(e.Target("primary"), e.Target("primary").Queries[0])); r == nil || r.Rows.Len() != 5 {
		t.Errorf("stored result %+v, want all 5 rows", r)
	}
}

// TestHungTarget: a server that accepts connections and never answers (a hung host behind a
// live port) costs its own pg_up and nothing else: the scrape still carries the others.
func TestHungTarget(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	e := newEngine(t, "pg_stat_database")
	hung := &Target{Name: "hung", Kind: queries.SourcePostgres, UpMetric: "pg_up",
		Source:  source(t, "postgres://postgres:Hung-Target-Pw@"+ln.Addr().String()+"/postgres?sslmode=disable"),
		Queries: e.Targets[0].Queries, Timeout: time.Minute, Parallel: 2}
	t.Cleanup(hung.Source.Close)
	text := scrapeText(t, e, ctxT(t, 3*time.Second), append([]*Target{hung}, e.Targets...), true)
	requireLines(t, text,
		`pg_up{target="hung"} 0`,
		`pg_up{target="primary"} 1`,
		`pg_up{target="replica"} 1`,
		`pg_stat_database_xact_commit{datid="`,
	)
	forbidLines(t, text, `target="hung",`, "Hung-Target-Pw")
}

// fakeSource answers the probe with fixed server info and runs no query.
type fakeSource struct{ info queries.ServerInfo }

func (f fakeSource) Probe(context.Context) (queries.ServerInfo, error) { return f.info, nil }
func (f fakeSource) Run(context.Context, *queries.Query, queries.Body) (*queries.Rows, error) {
	return nil, fmt.Errorf("no queries here")
}
func (f fakeSource) Close() {}

// TestEstablishedSelfMetrics: postgres_exporter's pg_exporter_last_scrape_error and
// pg_exporter_last_scrape_duration_seconds for every PostgreSQL target (1 when it is down or
// a query failed), pgbouncer_exporter's pgbouncer_version_info for pgbouncer, and neither
// for another kind.
func TestEstablishedSelfMetrics(t *testing.T) {
	e := newEngine(t, "pg_stat_database")
	bouncer := &Target{Name: "pooler", Kind: queries.SourcePgbouncer, UpMetric: "pgbouncer_up", Timeout: time.Second,
		Source: fakeSource{queries.ServerInfo{Version: 11800, VersionText: "PgBouncer 1.18.0"}}}
	other := &Target{Name: "cache", Kind: queries.SourceRedis, UpMetric: "redis_up", Timeout: time.Second,
		Source: fakeSource{queries.ServerInfo{Version: 70015, VersionText: "7.0.15", Role: queries.RolePrimary}}}
	text := scrapeText(t, e, ctxT(t, 5*time.Second), append([]*Target{bouncer, other}, e.Targets...), true)
	requireLines(t, text,
		"# TYPE pg_exporter_last_scrape_error gauge\n",
		`pg_exporter_last_scrape_error{target="primary"} 0`,
		`pg_exporter_last_scrape_error{target="replica"} 0`,
		`pg_exporter_last_scrape_error{target="dead"} 1`,
		"# TYPE pg_exporter_last_scrape_duration_seconds gauge\n",
		"# TYPE pgbouncer_version_info gauge\n",
		`pgbouncer_version_info{target="pooler",version="PgBouncer 1.18.0"} 1`,
	)
	forbidLines(t, text, `pg_exporter_last_scrape_error{target="pooler"}`, `pg_exporter_last_scrape_error{target="cache"}`,
		`pg_exporter_last_scrape_duration_seconds{target="cache"}`, `_version_info{target="cache"`, `pgbouncer_version_info{target="primary"`)
	for _, name := range []string{"primary", "replica", "dead"} {
		v, ok := sampleValue(text, `pg_exporter_last_scrape_duration_seconds{target="`+name+`"}`)
		probe, _ := sampleValue(text, `persistence_exporter_probe_duration_seconds{target="`+name+`"}`)
		if !ok || v <= 0 || v < probe {
			t.Errorf("%s: pg_exporter_last_scrape_duration_seconds %v (found %v), want > 0 and at least the probe's %v", name, v, ok, probe)
		}
	}

	// a failed query makes it 1, and /probe has it without the target label
	e = newEngine(t, "pg_stat_database", "t_broken")
	text = scrapeText(t, e, ctxT(t, 5*time.Second), e.Targets, true)
	requireLines(t, text, `pg_exporter_last_scrape_error{target="primary"} 1`, `pg_exporter_last_scrape_error{target="replica"} 1`)
	probe := scrapeText(t, e, ctxT(t, 5*time.Second), []*Target{e.Target("primary")}, false)
	requireLines(t, probe, "\npg_exporter_last_scrape_error 1\n", "\npg_exporter_last_scrape_duration_seconds ")
	forbidLines(t, probe, "target=")
}

// sampleValue is the value of the series written exactly as series (name and labels).
func sampleValue(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}
