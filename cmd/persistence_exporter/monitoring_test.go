package main

import (
	"context"
	"encoding/json"
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
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// allKindsConfig points one exporter at every kind of target the tests can run, each with
// something to show: the PostgreSQL 15 primary (with a table, an index and a sequence) and
// its replica, a PostgreSQL 17 primary (pg_stat_checkpointer), the primary that archives into
// pgBackRest, pgbouncer, the pgBackRest repository, a Redis primary, replica, sentinel and the
// primary through the sentinel (with keys in the cache namespaces, a slow command and a
// latency spike), and Elasticsearch 8.13 (an incident, with snapshots) and 7.17 replayed.
func allKindsConfig(t *testing.T) string {
	t.Helper()
	pg := env.Postgres(t)
	pooler := env.Pgbouncer(t)
	repo := env.Pgbackrest(t)
	pg17 := env.PostgresNamed(t, "17", noReplica(testenv.PGMajor(t, 17).Options()))
	rs := testenv.StartRedisT(t, testenv.RedisOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, s := range []*testenv.PGServer{pg.Primary, pg17.Primary} {
		if err := s.Exec(ctx, "postgres", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
			"CREATE TABLE IF NOT EXISTS mon_t (id bigserial PRIMARY KEY, v int)",
			"CREATE INDEX IF NOT EXISTS mon_t_v ON mon_t (v)",
			"INSERT INTO mon_t (v) SELECT g FROM generate_series(1, 60000) g",
			"ANALYZE mon_t", "SELECT count(*) FROM mon_t WHERE v = 7", "SELECT count(*) FROM mon_t"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pg.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	c := rs.Primary.Client()
	defer c.Close()
	for i := range 300 {
		for _, err := range []error{
			c.Set(ctx, fmt.Sprintf("session:%d", i), "v", time.Hour).Err(),
			c.Set(ctx, fmt.Sprintf("wf_meta:%d", i), "v", 0).Err(), // leaked: no TTL
			c.Set(ctx, fmt.Sprintf("tq_info:%d", i), "v", 5*time.Minute).Err(),
		} {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := c.ConfigSet(ctx, "latency-monitor-threshold", "5").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "DEBUG", "SLEEP", "0.02").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rs.WaitReplicaLinked(ctx, rs.Replica); err != nil {
		t.Fatal(err)
	}
	es8 := estest.New(t, "8.13", false)
	es7 := estest.New(t, "7.17", false)
	t.Setenv("MON_REDIS_PW", testenv.RedisPassword)
	t.Setenv("MON_SENTINEL_PW", testenv.RedisSentinelPassword)
	return testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable
    - name: replica1
      dsn: postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable
    - name: pg17
      dsn: postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable
    - name: archiving
      dsn: postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable
%s  redis:
    - name: redis-primary
      addr: %s
      password_env: MON_REDIS_PW
    - name: redis-replica
      addr: %s
      password_env: MON_REDIS_PW
    - name: sentinel
      addr: %s
      password_env: MON_SENTINEL_PW
    - name: cache
      sentinel_master: %s
      sentinels: [%s]
      password_env: MON_REDIS_PW
      sentinel_password_env: MON_SENTINEL_PW
  elasticsearch:
    - name: visibility
      urls: [%s]
      slm_policies: [nightly-snapshots]
      snapshot_repositories: [temporal-backups]
    - name: visibility717
      urls: [%s]
`, pg.Primary.Port, pg.Replica.Port, pg17.Primary.Port, repo.PG.Primary.Port, poolerAndBackups(pooler, repo),
		rs.Primary.Addr(), rs.Replica.Addr(), rs.Sentinel.Addr(), testenv.RedisMasterName, rs.Sentinel.Addr(),
		es8.URL, es7.URL))
}

func noReplica(o testenv.PGOptions) testenv.PGOptions {
	o.Replica = false
	return o
}

// prometheusOwn are series Prometheus itself writes: dashboards and alerts may use them.
var prometheusOwn = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true, "ALERTS": true, "ALERTS_FOR_STATE": true}

// TestDashboardsAndAlertsMatchMetrics scrapes an exporter that watches every kind of target
// and fails when a dashboard panel, a dashboard variable or an alert rule names a metric the
// scrape does not have, or holds PromQL that does not parse.
func TestDashboardsAndAlertsMatchMetrics(t *testing.T) {
	ex := startExporter(t, allKindsConfig(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ex.adv.Run(ctx) // the advisor's metrics come after its first run
	scrape := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "20")
	if dump := os.Getenv("PE_DUMP_METRICS"); dump != "" {
		if err := os.WriteFile(dump, []byte(scrape), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	families, err := tp.TextToMetricFamilies(strings.NewReader(scrape))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}
	have := map[string]bool{}
	for name := range families {
		have[name] = true
	}
	for _, up := range []string{`pg_up{target="replica1"} 1`, `pg_up{target="pg17"} 1`, `pg_up{target="archiving"} 1`, `elasticsearch_up{target="visibility"} 1`, `pgbouncer_up{target="pooler"} 1`, `pgbackrest_up{target="backups"} 1`,
		`redis_up{target="cache"} 1`, `elasticsearch_up{target="visibility717"} 1`} {
		if !strings.Contains(scrape, up+"\n") {
			t.Errorf("the scrape lacks %s: the test does not see every kind of target", up)
		}
	}

	t.Run("dashboards", func(t *testing.T) {
		exprs := dashboardExprs(t)
		if len(exprs) < 50 {
			t.Errorf("only %d expressions in dashboards/: are they read?", len(exprs))
		}
		checkExprs(t, exprs, have)
	})
	t.Run("alerts", func(t *testing.T) {
		exprs := alertExprs(t)
		if len(exprs) < 20 {
			t.Errorf("only %d alert rules in alerts/: are they read?", len(exprs))
		}
		checkExprs(t, exprs, have)
	})
}

// checkExprs fails on an expression that does not parse, names no metric, or names a metric
// the scrape does not have.
func checkExprs(t *testing.T, exprs []located, have map[string]bool) {
	t.Helper()
	missing := map[string][]string{}
	for _, e := range exprs {
		names, err := metricNames(e.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", e.where, e.expr, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: %q names no metric", e.where, e.expr)
		}
		for _, n := range names {
			if !have[n] && !prometheusOwn[n] {
				missing[n] = append(missing[n], e.where)
			}
		}
	}
	var names []string
	for n := range missing {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Errorf("%s is not in the scrape; used by %s", n, strings.Join(uniq(missing[n]), ", "))
	}
}

type located struct{ where, expr string }

// grafanaVars stands in for the dashboards' variables so that their queries parse.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "${__rate_interval}", "5m", "$__interval", "1m", "${__interval}", "1m",
	"$__range", "1h", "${__range}", "1h",
)

var varRe = regexp.MustCompile(`\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}?`)

func substitute(expr string) string {
	return varRe.ReplaceAllString(grafanaVars.Replace(expr), "x")
}

// dashboardExprs reads every panel query and every query variable of dashboards/*.json, and
// checks what the dashboards must all have: a datasource variable (no hard-coded datasource
// UID) and a target variable.
func dashboardExprs(t *testing.T) []located {
	t.Helper()
	files, err := filepath.Glob("../../dashboards/*.json")
	if err != nil || len(files) < 5 {
		t.Fatalf("want at least 5 dashboards in dashboards/, found %d (%v)", len(files), err)
	}
	var out []located
	for _, file := range files {
		data := testenv.ReadFile(t, file)
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		name := filepath.Base(file)
		if d.UID == "" || d.Title == "" || d.SchemaVersion < 39 {
			t.Errorf("%s: uid %q, title %q, schemaVersion %d: want a uid, a title and a current schema (39+)", name, d.UID, d.Title, d.SchemaVersion)
		}
		vars := map[string]string{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v.Type
			if v.Type == "query" {
				q := v.Query
				if m, ok := q.(map[string]any); ok {
					q = m["query"]
				}
				qs, _ := q.(string)
				if sel := labelValuesRe.FindStringSubmatch(qs); sel != nil {
					out = append(out, located{name + " variable " + v.Name, sel[1]})
				} else if qs != "" {
					out = append(out, located{name + " variable " + v.Name, qs})
				}
			}
			checkDatasource(t, name+" variable "+v.Name, v.Datasource, v.Type == "datasource")
		}
		if vars["datasource"] != "datasource" {
			t.Errorf("%s: no datasource variable", name)
		}
		if _, ok := vars["target"]; !ok && name != "overview.json" {
			t.Errorf("%s: no target variable", name)
		}
		var walk func(panels []panel)
		walk = func(panels []panel) {
			for _, p := range panels {
				walk(p.Panels)
				if p.Type == "row" || p.Type == "text" {
					continue
				}
				checkDatasource(t, fmt.Sprintf("%s panel %q", name, p.Title), p.Datasource, false)
				if len(p.Targets) == 0 {
					t.Errorf("%s panel %q has no query", name, p.Title)
				}
				for _, tg := range p.Targets {
					checkDatasource(t, fmt.Sprintf("%s panel %q", name, p.Title), tg.Datasource, true)
					out = append(out, located{fmt.Sprintf("%s panel %q", name, p.Title), tg.Expr})
				}
			}
		}
		walk(d.Panels)
	}
	return out
}

// checkDatasource wants a datasource that is the ${datasource} variable (or none, where
// inheriting is allowed).
func checkDatasource(t *testing.T, where string, ds any, optional bool) {
	t.Helper()
	switch v := ds.(type) {
	case nil:
		if !optional {
			t.Errorf("%s: no datasource", where)
		}
	case string:
		if v != "${datasource}" && v != "$datasource" {
			t.Errorf("%s: datasource %q, want ${datasource}", where, v)
		}
	case map[string]any:
		if uid, _ := v["uid"].(string); uid != "${datasource}" && uid != "$datasource" {
			t.Errorf("%s: datasource uid %q, want ${datasource} (no hard-coded datasource)", where, uid)
		}
	}
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\((.+),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			Datasource any    `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string  `json:"title"`
	Type       string  `json:"type"`
	Datasource any     `json:"datasource"`
	Panels     []panel `json:"panels"`
	Targets    []struct {
		Expr       string `json:"expr"`
		Datasource any    `json:"datasource"`
	} `json:"targets"`
}

// alertExprs reads every rule of alerts/*.yml (not the unit tests under alerts/tests).
func alertExprs(t *testing.T) []located {
	t.Helper()
	files, err := filepath.Glob("../../alerts/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no alert rules in alerts/ (%v)", err)
	}
	var out []located
	for _, file := range files {
		data := testenv.ReadFile(t, file)
		var doc struct {
			Groups []struct {
				Rules []struct {
					Alert, Record, Expr string
				}
			}
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				out = append(out, located{filepath.Base(file) + " " + r.Alert + r.Record, r.Expr})
			}
		}
	}
	return out
}

// metricNames parses an expression and returns the metric names its selectors name.
func metricNames(expr string) ([]string, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(substitute(expr))
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					names = append(names, m.Value)
				}
			}
		}
		return nil
	})
	return names, nil
}

func uniq(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
