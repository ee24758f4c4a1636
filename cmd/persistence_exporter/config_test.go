package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// These tests read whole configuration files, with targets of every kind of the table.

// The shape the foundation issue fixes, with the secrets it names coming from a file and an
// environment variable.
const issueExample = `targets:
  postgres:
    - name: primary
      dsn: postgres://exporter:secret@10.0.0.1:5432/temporal?sslmode=verify-full
    - name: replica1
      dsn_file: %s      # or dsn_env: REPLICA1_DSN
      cluster: temporal
  redis:
    - name: cache
      addr: 10.0.0.5:6379
      password_env: TEST_REDIS_PASSWORD
      cluster: temporal
  elasticsearch:
    - name: visibility
      urls: [https://10.0.0.9:9200]
      cluster: temporal
  pgbackrest:
    - name: backups
      stanza: temporal
      cluster: temporal
      config: /etc/pgbackrest/pgbackrest.conf
packs: [%s]     # extra pack files or directories
`

func TestIssueExample(t *testing.T) {
	dir := t.TempDir()
	dsnFile := testenv.WriteFile(t, dir, "replica1_dsn", "postgres://exporter:from-a-file@10.0.0.2:5432/temporal\n")
	t.Setenv("TEST_REDIS_PASSWORD", "redis-pass-1")
	c, err := config.Parse("example.yml", []byte(fmt.Sprintf(issueExample, dsnFile, dir)), kinds.All.Targets())
	if err != nil {
		t.Fatal(err)
	}
	p := config.TargetsOf[*postgres.Target](c)
	rd, es, br := config.TargetsOf[*redis.Target](c), config.TargetsOf[*elasticsearch.Target](c), config.TargetsOf[*pgbackrest.Target](c)
	if len(p) != 2 || p[1].ResolvedDSN != "postgres://exporter:from-a-file@10.0.0.2:5432/temporal" || p[1].Cluster != "temporal" {
		t.Fatalf("postgres targets %+v", p)
	}
	if p[0].MaxConnections != postgres.DefaultMaxConnections || p[0].QueryTimeout != postgres.DefaultQueryTimeout ||
		p[0].StatementTimeout != postgres.DefaultStatementTimeout || p[0].LockTimeout != postgres.DefaultLockTimeout {
		t.Errorf("defaults not applied: %+v", p[0])
	}
	if rd[0].Password != "redis-pass-1" || br[0].Command != "pgbackrest" {
		t.Errorf("redis %+v pgbackrest %+v", rd[0], br[0])
	}
	// one deployment: the stores of one Temporal data layer name the same cluster
	if rd[0].Cluster != "temporal" || es[0].Cluster != "temporal" || br[0].Cluster != "temporal" {
		t.Errorf("clusters: redis %q elasticsearch %q pgbackrest %q",
			rd[0].Cluster, es[0].Cluster, br[0].Cluster)
	}
	for _, s := range []string{"secret", "from-a-file", "redis-pass-1"} {
		if !slices.Contains(c.Secrets(), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Setenv("EMPTY_DSN", "")
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown key", `targets:
  postgres:
    - name: primary
      dns: postgres://localhost/x
`, []string{`bad.yml:4: unknown key "dns" in targets.postgres[0] (did you mean "dsn"?)`}},
		{"unknown top-level key", `target:
  postgres: []
`, []string{`bad.yml:1: unknown key "target" in the top level (did you mean "targets"?)`}},
		{"no targets", `targets: {}
`, []string{`bad.yml:1: no targets: add at least one under targets.postgres, .pgbouncer, .redis, .elasticsearch or .pgbackrest`}},
		{"dsn sources", `targets:
  postgres:
    - name: a
    - name: b
      dsn: postgres://localhost/x
      dsn_env: X
    - name: c
      dsn_env: EMPTY_DSN
    - name: d
      dsn_file: /nonexistent/dsn
`, []string{
			`bad.yml:3: postgres target "a": set one of dsn, dsn_file or dsn_env`,
			`bad.yml:4: postgres target "b": set only one of dsn, dsn_file or dsn_env`,
			`bad.yml:8: dsn_env: environment variable EMPTY_DSN is empty`,
			`bad.yml:10: dsn_file "/nonexistent/dsn": no such file or directory`,
		}},
		{"names", `targets:
  postgres:
    - name: db
      dsn: postgres://localhost/x
  redis:
    - name: db
      addr: localhost:6379
    - name: "bad name"
      addr: localhost
`, []string{
			`bad.yml:6: target name "db" is already used at line 3`,
			`bad.yml:8: target name "bad name": use letters, digits, and _ . : - (not first)`,
			`bad.yml:9: redis target "bad name": addr "localhost" is not host:port`,
		}},
		{"values", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      max_connections: 50
      query_timeout: -1s
      lock_timeout: often
`, []string{ // one run reports the wrong type and the values out of range alike
			`bad.yml:5: max_connections 50: want 1 to 20 (the exporter should stay cheap on the server)`,
			`bad.yml:6: query_timeout -1s must be positive`,
			`bad.yml:7: targets.postgres[0].lock_timeout: invalid value "often": want a duration such as 30s or 5m`,
		}},
		{"ranges", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      max_connections: 50
      query_timeout: -1s
`, []string{
			`bad.yml:5: max_connections 50: want 1 to 20 (the exporter should stay cheap on the server)`,
			`bad.yml:6: query_timeout -1s must be positive`,
		}},
		{"elasticsearch and pgbackrest", `targets:
  elasticsearch:
    - name: es
      urls: ["ftp://es:9200", "https://user:Es-Pass-77@es:9200"]
      ca_file: /nonexistent/ca.pem
  pgbackrest:
    - name: b
packs: [/nonexistent/packs]
`, []string{
			`bad.yml:4: elasticsearch target "es": "ftp://es:9200" is not an http(s) URL`,
			`bad.yml:5: ca_file "/nonexistent/ca.pem": no such file or directory`,
			`bad.yml:7: pgbackrest target "b" needs a stanza`,
			`bad.yml:8: pack path "/nonexistent/packs": no such file or directory`,
		}},
		{"patterns, top_n, pgbouncer", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      databases: {include: ["temporal.*"], exclude: ["(unclosed"]}
      schemas: {include: ["temporal", "temporal_visibility"]}
      top_n: {pg_stat_user_tables: 0}
  pgbouncer:
    - name: b
`, []string{
			`bad.yml:5: pattern "(unclosed": error parsing regexp: missing closing ): ` + "`^(?:(unclosed)$`",
			`bad.yml:7: top_n of pg_stat_user_tables: 0, want at least 1`,
			`bad.yml:9: pgbouncer target "b": set one of dsn, dsn_file or dsn_env`,
		}},
		{"empty file", ``, []string{`bad.yml: the file is empty`}}, // and nothing else: no "no targets" echo
		{"dsn does not parse", `targets:
  postgres:
    - name: p
      dsn: "postgres://exporter:Very-Secret-9@db:port/x"
`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("bad.yml", []byte(tc.text), kinds.All.Targets())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want == nil {
				if !strings.HasPrefix(err.Error(), `bad.yml:4: postgres target "p": the DSN does not parse`) || strings.Contains(err.Error(), "Very-Secret-9") {
					t.Errorf("error %q: want a parse error at line 4 without the password", err)
				}
				return
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestComposeExample: the exporter configuration inside docker-compose.yml (which cannot be
// run here) is valid.
func TestComposeExample(t *testing.T) {
	data := testenv.ReadFile(t, "../../docker-compose.yml")
	var compose struct {
		Configs map[string]struct {
			Content string `yaml:"content"`
		} `yaml:"configs"`
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	for k, v := range compose.Services["persistence_exporter"].Environment {
		t.Setenv(k, v)
	}
	cfg, err := config.Parse("docker-compose.yml#exporter", []byte(compose.Configs["exporter"].Content), kinds.All.Targets())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Targets) - len(config.TargetsOf[*pgbackrest.Target](cfg)); n != 9 {
		t.Errorf("%d targets in the example, want 9", n)
	}
}

// TestRelativePaths: file paths in the configuration are relative to the file, not to the
// working directory the exporter runs in.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "primary.dsn", "postgres://exporter@db1/temporal\n")
	if err := os.Mkdir(filepath.Join(dir, "packs.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := testenv.WriteFile(t, dir, "config.yml", "targets:\n  postgres:\n    - name: p\n      dsn_file: primary.dsn\n  pgbackrest:\n    - name: b\n      stanza: s\n      config: /etc/pgbackrest/pgbackrest.conf\npacks: [packs.d]\n")
	c, err := config.Load(cfgFile, kinds.All.Targets())
	if err != nil {
		t.Fatal(err)
	}
	if p := config.TargetsOf[*postgres.Target](c)[0]; p.ResolvedDSN != "postgres://exporter@db1/temporal" {
		t.Errorf("dsn from %s: %q", p.DSNFile, p.ResolvedDSN)
	}
	if want := filepath.Join(dir, "packs.d"); len(c.Packs) != 1 || c.Packs[0] != want {
		t.Errorf("packs %v, want [%s]", c.Packs, want)
	}
	if got := config.TargetsOf[*pgbackrest.Target](c)[0].Config; got != "/etc/pgbackrest/pgbackrest.conf" {
		t.Errorf("an absolute path changed: %q", got)
	}
}
