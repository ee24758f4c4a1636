package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
)

// testKinds are the kinds of this package, for configuration files that list only them.
var testKinds = kind.Kinds{Kind(), PgbouncerKind()}.Targets()

func TestPatterns(t *testing.T) {
	c, err := config.Parse("c.yml", []byte(`targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      databases: {include: ["temporal.*"], exclude: [temporal_old]}
  pgbouncer:
    - name: b
      dsn: postgres://u:Pgb-Secret-1@localhost:6432/pgbouncer
      cluster: temporal
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	p := config.TargetsOf[*Target](c)[0].Databases
	b := config.TargetsOf[*PgbouncerTarget](c)[0]
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
	if !slices.Contains(c.Secrets(), "Pgb-Secret-1") || b.QueryTimeout != DefaultQueryTimeout ||
		b.Cluster != "temporal" {
		t.Errorf("pgbouncer target %+v, secrets %v", b, c.Secrets())
	}
}

func TestDurationsParse(t *testing.T) {
	c, err := config.Parse("c.yml", []byte(`targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
      query_timeout: 1m30s
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	if p := config.TargetsOf[*Target](c)[0]; p.QueryTimeout != 90*time.Second {
		t.Errorf("query_timeout %s", p.QueryTimeout)
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
		_, err := config.Parse("bad.yml", []byte("targets:\n  postgres:\n    - name: pg\n      dsn: \""+dsn+"\"\n"), testKinds)
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
