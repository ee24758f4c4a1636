package postgres

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestPgbouncerSource(t *testing.T) {
	b := env.Pgbouncer(t)
	s, err := NewPgbouncer(Options{DSN: b.AdminDSN(), MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.Probe(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.Version < 11000 || info.Version > 20000 {
		t.Errorf("version %d, want a pgbouncer 1.x as 1xx00", info.Version)
	}
	// a later probe reuses the pooled console connection, which pgx pings first after a
	// second of idleness: the console must accept the ping
	time.Sleep(1100 * time.Millisecond)
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"SHOW POOLS", "SHOW STATS_TOTALS", "SHOW DATABASES", "SHOW LISTS", "SHOW CONFIG"} {
		rows, err := s.Run(ctx(t), &queries.Query{Name: "x"}, SQL(cmd))
		if err != nil {
			t.Errorf("%s: %v", cmd, err)
			continue
		}
		if rows.Len() == 0 {
			t.Errorf("%s returned no rows", cmd)
		}
	}
}

// TestPgbouncerPack runs the default pgbouncer pack through the engine: every SHOW maps, the
// metrics carry pgbouncer_exporter's names, and the exposition is lint-clean.
func TestPgbouncerPack(t *testing.T) {
	b := env.Pgbouncer(t)
	// traffic through the pooler, so that its pools and stats have something to show
	conn, err := pgx.Connect(ctx(t), b.DSN("postgres")+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx(t), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx(t))

	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewPgbouncer(Options{DSN: b.AdminDSN(), MaxConns: 1, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	target := &collector.Target{Name: "pooler", Kind: queries.SourcePgbouncer, UpMetric: "pgbouncer_up", Source: src,
		Queries: set.For(queries.SourcePgbouncer), Timeout: 5 * time.Second, Parallel: 1}
	e := collector.NewEngine([]*collector.Target{target}, slog.New(slog.DiscardHandler))
	defer e.Close()
	snap := e.Gather(ctx(t), target)
	if !snap.Up {
		t.Fatalf("down: %v", snap.ProbeErr)
	}
	for _, r := range snap.Results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Query.Name, r.Err)
		}
	}
	text := scrape(t, e)
	f := parse(t, text)
	for _, m := range []string{
		"pgbouncer_up", "pgbouncer_pools_client_active_connections", "pgbouncer_pools_server_idle_connections",
		"pgbouncer_stats_queries_pooled_total", "pgbouncer_stats_queries_duration_seconds_total",
		"pgbouncer_databases_pool_size", "pgbouncer_databases", "pgbouncer_free_clients",
		"pgbouncer_config_max_client_connections", "pgbouncer_config_default_pool_size",
	} {
		if !has(f, m, "pooler", nil) {
			t.Errorf("%s is missing", m)
		}
	}
	// SHOW VERSION as pgbouncer answers it, as pgbouncer_exporter labels it
	if !strings.HasPrefix(snap.Info.VersionText, "PgBouncer 1.") || !has(f, "pgbouncer_version_info", "pooler", map[string]string{"version": snap.Info.VersionText}) {
		t.Errorf("no pgbouncer_version_info{version=%q}", snap.Info.VersionText)
	}
	if v, ok := value(t, text, "pgbouncer_version_info", "pooler"); !ok || v != 1 {
		t.Errorf("pgbouncer_version_info = %v, want 1", v)
	}
	// SHOW LISTS: dns_queries is pgbouncer_exporter's in-flight DNS queries; dns_pending keeps
	// a name of its own
	for _, m := range []string{"pgbouncer_in_flight_dns_queries", "pgbouncer_dns_pending", "pgbouncer_cached_dns_names", "pgbouncer_cached_dns_zones"} {
		if !has(f, m, "pooler", nil) {
			t.Errorf("%s is missing", m)
		}
	}
	if has(f, "pgbouncer_dns_queries", "pooler", nil) {
		t.Error("SHOW LISTS' dns_queries is exported as pgbouncer_dns_queries, not pgbouncer_in_flight_dns_queries")
	}
	if v, ok := value(t, text, "pgbouncer_config_default_pool_size", "pooler"); !ok || v != 5 {
		t.Errorf("pgbouncer_config_default_pool_size = %v, want 5 (testenv's setting)", v)
	}
	testenv.CheckMetrics(t, text)
}
