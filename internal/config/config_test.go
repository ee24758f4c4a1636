package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

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
	dsnFile := filepath.Join(dir, "replica1_dsn")
	if err := os.WriteFile(dsnFile, []byte("postgres://exporter:from-a-file@10.0.0.2:5432/temporal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_REDIS_PASSWORD", "redis-pass-1")
	c, err := Parse("example.yml", []byte(fmt.Sprintf(issueExample, dsnFile, dir)))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Targets.Postgres
	if len(p) != 2 || p[1].ResolvedDSN != "postgres://exporter:from-a-file@10.0.0.2:5432/temporal" || p[1].Cluster != "temporal" {
		t.Fatalf("postgres targets %+v", p)
	}
	if p[0].MaxConnections != DefaultMaxConnections || p[0].QueryTimeout != DefaultQueryTimeout ||
		p[0].StatementTimeout != DefaultStatementTimeout || p[0].LockTimeout != DefaultLockTimeout {
		t.Errorf("defaults not applied: %+v", p[0])
	}
	if c.Targets.Redis[0].Password != "redis-pass-1" || c.Targets.Pgbackrest[0].Command != "pgbackrest" {
		t.Errorf("redis %+v pgbackrest %+v", c.Targets.Redis[0], c.Targets.Pgbackrest[0])
	}
	// one deployment: the stores of one Temporal data layer name the same cluster
	if c.Targets.Redis[0].Cluster != "temporal" || c.Targets.Elasticsearch[0].Cluster != "temporal" || c.Targets.Pgbackrest[0].Cluster != "temporal" {
		t.Errorf("clusters: redis %q elasticsearch %q pgbackrest %q",
			c.Targets.Redis[0].Cluster, c.Targets.Elasticsearch[0].Cluster, c.Targets.Pgbackrest[0].Cluster)
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
			_, err := Parse("bad.yml", []byte(tc.text))
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

func TestPatterns(t *testing.T) {
	c, err := Parse("c.yml", []byte(`targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      databases: {include: ["temporal.*"], exclude: [temporal_old]}
  pgbouncer:
    - name: b
      dsn: postgres://u:Pgb-Secret-1@localhost:6432/pgbouncer
      cluster: temporal
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Targets.Postgres[0].Databases
	match := func(name string) bool {
		in := len(p.IncludeRE) == 0
		for _, re := range p.IncludeRE {
			in = in || re.MatchString(name)
		}
		for _, re := range p.ExcludeRE {
			in = in && !re.MatchString(name)
		}
		return in
	}
	for name, want := range map[string]bool{"temporal": true, "temporal_visibility": true, "temporal_old": false, "postgres": false, "x_temporal": false} {
		if got := match(name); got != want {
			t.Errorf("%s: %v, want %v (patterns are anchored)", name, got, want)
		}
	}
	if !slices.Contains(c.Secrets(), "Pgb-Secret-1") || c.Targets.Pgbouncer[0].QueryTimeout != DefaultQueryTimeout ||
		c.Targets.Pgbouncer[0].Cluster != "temporal" {
		t.Errorf("pgbouncer target %+v, secrets %v", c.Targets.Pgbouncer[0], c.Secrets())
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/persistence_exporter.yml")
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/persistence_exporter.yml") {
		t.Errorf("err = %v", err)
	}
}

func TestDurationsParse(t *testing.T) {
	c, err := Parse("c.yml", []byte(`targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      query_timeout: 1m30s
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Targets.Postgres[0].QueryTimeout != 90*time.Second {
		t.Errorf("query_timeout %s", c.Targets.Postgres[0].QueryTimeout)
	}
}

// TestComposeExample: the exporter configuration inside docker-compose.yml (which cannot be
// run here) is valid.
func TestComposeExample(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
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
	cfg, err := Parse("docker-compose.yml#exporter", []byte(compose.Configs["exporter"].Content))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Targets.Postgres) + len(cfg.Targets.Redis) + len(cfg.Targets.Elasticsearch) + len(cfg.Targets.Pgbouncer); n != 9 {
		t.Errorf("%d targets in the example, want 9", n)
	}
}

// TestRelativePaths: file paths in the configuration are relative to the file, not to the
// working directory the exporter runs in.
func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "primary.dsn"), []byte("postgres://exporter@db1/temporal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "packs.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte("targets:\n  postgres:\n    - name: p\n      dsn_file: primary.dsn\n  pgbackrest:\n    - name: b\n      stanza: s\n      config: /etc/pgbackrest/pgbackrest.conf\npacks: [packs.d]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Targets.Postgres[0].ResolvedDSN; got != "postgres://exporter@db1/temporal" {
		t.Errorf("dsn from %s: %q", c.Targets.Postgres[0].DSNFile, got)
	}
	if want := filepath.Join(dir, "packs.d"); len(c.Packs) != 1 || c.Packs[0] != want {
		t.Errorf("packs %v, want [%s]", c.Packs, want)
	}
	if got := c.Targets.Pgbackrest[0].Config; got != "/etc/pgbackrest/pgbackrest.conf" {
		t.Errorf("an absolute path changed: %q", got)
	}
}

// TestUnencodedPasswordIsNotEchoed: a DSN whose password is not percent-encoded does not
// parse; the error names the file and line, says to percent-encode, and shows no piece of
// the password (pgx's own masking leaves "xxxxx@ss:xxxxxx").
func TestUnencodedPasswordIsNotEchoed(t *testing.T) {
	const password = "S3cr3t-P@ss:w/rd?#%"
	for _, dsn := range []string{
		"postgres://u:" + password + "@host/db",
		"postgresql://u:" + password + "@127.0.0.1:5432/temporal?sslmode=disable",
	} {
		_, err := Parse("bad.yml", []byte("targets:\n  postgres:\n    - name: pg\n      dsn: \""+dsn+"\"\n"))
		if err == nil {
			t.Fatalf("%s was accepted", dsn)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, `bad.yml:4: postgres target "pg": the DSN does not parse`) || !strings.Contains(msg, "percent-encode") {
			t.Errorf("error %q: want bad.yml:4, the DSN does not parse, and the advice to percent-encode", msg)
		}
		for _, fragment := range []string{"S3cr3t", "P@ss", "@ss", "ss:w", "w/rd", "rd?", "?#", "#%", "%@"} {
			if strings.Contains(msg, fragment) {
				t.Errorf("error %q shows %q of the password", msg, fragment)
			}
		}
	}
}
