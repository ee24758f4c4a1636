package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// dropInLists are the metric names that public dashboards and alert rules written for the
// established exporters select on, one file per artefact (testdata/dropin).
var dropInLists = []string{"postgres_mixin.txt", "awesome_alerts.txt", "redis_mixin.txt", "pgbouncer.txt", "pgbackrest.txt"}

// notProduced are names of those lists that the scrape of TestDropInNames does not have, and
// why. The test fails when one of them shows up after all, so that the list stays honest.
var notProduced = map[string]string{
	// from queries a user adds to postgres_exporter, not from its collectors
	"pg_replication_lag":                     "postgres_exporter's example queries.yaml defines it (query pg_replication, column lag); load that file with packs: (TestPostgresExporterExampleLoads)",
	"pg_txid_current":                        "a custom query of the user's queries.yaml, not a postgres_exporter collector",
	"pg_stat_ssl_compression":                "a custom query of the user's queries.yaml; PostgreSQL 14 removed SSL compression",
	"pg_bloat_btree_bloat_pct":               "a custom bloat query of the user's queries.yaml",
	"pg_bloat_btree_real_size":               "a custom bloat query of the user's queries.yaml",
	"pg_bloat_table_bloat_pct":               "a custom bloat query of the user's queries.yaml",
	"pg_bloat_table_real_size":               "a custom bloat query of the user's queries.yaml",
	"pg_general_index_info_pg_relation_size": "a custom query of the user's queries.yaml",
	"postgresql_errors_total":                "counted from PostgreSQL's log by a log exporter; nothing reads the log here",
	"pgbouncer_errors_count":                 "spreaker's pgbouncer exporter counts pgbouncer's log lines; the admin console has no such count",
	// not produced by the established exporter either, on these servers
	"redis_memory_fragmentation_ratio": "the redis-mixin dashboard's name; redis_exporter 1.x exports redis_mem_fragmentation_ratio, as this exporter does",
	"pgbouncer_stats_queries_total":    "SHOW STATS has had no total_requests since PgBouncer 1.8; pgbouncer_exporter has nothing to export either",
	// the servers here cannot produce them
	"pgbackrest_backup_repo_size_map_bytes":  "block incremental backups only (repo-block): the test repository's are not; TestPgbackrestExporterNames covers them",
	"pgbackrest_backup_repo_delta_map_bytes": "block incremental backups only (repo-block): the test repository's are not; TestPgbackrestExporterNames covers them",
}

// readNames reads a list of testdata/dropin: one metric name a line, # comments.
func readNames(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "dropin", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	valid := regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !valid.MatchString(line) {
			t.Errorf("%s:%d: %q is not a metric name", file, n, line)
			continue
		}
		names = append(names, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(names) < 10 {
		t.Errorf("%s: only %d names: is it read?", file, len(names))
	}
	return names
}

// dropInConfig watches one server of every kind the lists need: a PostgreSQL 15 primary and
// its streaming replica (through slot replica1) whose autovacuum has run on a table,
// pgbouncer, a pgBackRest repository with full, diff and incremental backups, a Redis primary
// and replica with keys, and a Redis node in cluster mode.
func dropInConfig(t *testing.T) string {
	t.Helper()
	pg := env.PostgresNamed(t, "dropin", testenv.PGOptions{Replica: true, Conf: []string{"autovacuum_naptime = 1s"}})
	pooler := env.Pgbouncer(t)
	repo := env.Pgbackrest(t)
	rs := testenv.StartRedisT(t, testenv.RedisOptions{NoSentinel: true})
	cluster := testenv.StartRedisT(t, testenv.RedisOptions{Cluster: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// a table that autovacuum visits at once: last_autovacuum and last_autoanalyze get a time
	if err := pg.Primary.Exec(ctx, "postgres",
		"CREATE TABLE dropin_t (id int) WITH (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0)",
		"INSERT INTO dropin_t SELECT g FROM generate_series(1, 1000) g", "DELETE FROM dropin_t WHERE id % 2 = 0"); err != nil {
		t.Fatal(err)
	}
	conn, err := pg.Primary.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var done bool
		if err := conn.QueryRow(ctx, "SELECT last_autovacuum IS NOT NULL AND last_autoanalyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'dropin_t'").Scan(&done); err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("autovacuum did not visit dropin_t")
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := pg.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	c := rs.Primary.Client()
	defer c.Close()
	for i := range 20 {
		if err := c.Set(ctx, fmt.Sprintf("session:%d", i), "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rs.WaitReplicaLinked(ctx, rs.Replica); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DROPIN_REDIS_PW", testenv.RedisPassword)
	return testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: %s
    - name: replica1
      dsn: %s
%s  redis:
    - name: redis-primary
      addr: %s
      password_env: DROPIN_REDIS_PW
    - name: redis-replica
      addr: %s
      password_env: DROPIN_REDIS_PW
    - name: redis-cluster
      addr: %s
      password_env: DROPIN_REDIS_PW
`, pg.Primary.DSN("postgres"), pg.Replica.DSN("postgres"), poolerAndBackups(pooler, repo),
		rs.Primary.Addr(), rs.Replica.Addr(), cluster.Primary.Addr()))
}

// TestDropInNames: every metric name of the public dashboards and alerts in testdata/dropin
// resolves in a live scrape of real servers, but those notProduced lists with its reason.
func TestDropInNames(t *testing.T) {
	ex := startExporter(t, dropInConfig(t))
	scrape := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "30")
	tp := expfmt.NewTextParser(model.UTF8Validation)
	families, err := tp.TextToMetricFamilies(strings.NewReader(scrape))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	for _, up := range []string{`pg_up{target="primary"} 1`, `pg_up{target="replica1"} 1`, `pgbouncer_up{target="pooler"} 1`,
		`pgbackrest_up{target="backups"} 1`, `redis_up{target="redis-primary"} 1`, `redis_up{target="redis-replica"} 1`, `redis_up{target="redis-cluster"} 1`} {
		if !strings.Contains(scrape, up+"\n") {
			t.Errorf("the scrape lacks %s", up)
		}
	}
	listed := map[string]bool{}
	for _, file := range dropInLists {
		var missing []string
		for _, name := range readNames(t, file) {
			listed[name] = true
			_, have := families[name]
			why, excused := notProduced[name]
			switch {
			case have && excused:
				t.Errorf("%s: %s resolves now, but notProduced says %q: take it off that list", file, name, why)
			case !have && !excused:
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			t.Errorf("%s: not in the scrape: %s", file, strings.Join(missing, ", "))
		}
	}
	var stale []string
	for name := range notProduced {
		if !listed[name] {
			stale = append(stale, name)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("notProduced names no list has: %s", strings.Join(stale, ", "))
	}
	testenv.CheckMetrics(t, scrape)
}

// TestPostgresExporterExampleLoads: a queries.yaml in the shape of postgres_exporter 0.12's
// example, HISTOGRAM query included, loads unchanged: the histogram query is left out with
// one warning at load that names its file:line, and the other queries run, replacing the
// default queries and metrics they share names with.
func TestPostgresExporterExampleLoads(t *testing.T) {
	pg := env.Postgres(t)
	dir := t.TempDir()
	example := testenv.ReadFile(t, filepath.Join("..", "..", "queries", "testdata", "postgres_exporter_example.yaml"))
	pack := testenv.WriteFile(t, dir, "queries.yaml", string(example))
	ex := startExporter(t, testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: %s
packs: [%s]
`, pg.Primary.DSN("postgres"), pack)))
	var warnings []string
	for _, line := range strings.Split(ex.logs.String(), "\n") {
		if strings.Contains(line, "level=WARN") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "at="+pack+":63 ") || !strings.Contains(warnings[0], "query=pg_process_idle") ||
		!strings.Contains(warnings[0], "HISTOGRAM") {
		t.Errorf("want one warning naming %s:63 and pg_process_idle, got:\n%s", pack, strings.Join(warnings, "\n"))
	}
	scrape := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "20")
	for _, want := range []string{`pg_replication_lag{target="primary"} 0`, `persistence_exporter_query_errors_total{query="pg_postmaster",target="primary"} 0`,
		`pg_exporter_last_scrape_error{target="primary"} 0`} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	if n := strings.Count(scrape, "\npg_postmaster_start_time_seconds{"); n != 1 {
		t.Errorf("%d series pg_postmaster_start_time_seconds, want the user query's one", n)
	}
	if strings.Contains(scrape, "pg_process_idle") {
		t.Error("the HISTOGRAM query runs")
	}
	testenv.CheckMetrics(t, scrape)
}
