package collector_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// echo is a fictional source kind, written here and nowhere else: its body lists the rows
// the query returns, and its targets (targets.echo in the configuration) may scale the
// numbers they say. That a pack of it loads, that a configuration lists its targets and is
// checked with file:line, and that its rows become metrics through the engine, with no
// other package changed, is what "a source kind is one value" means.
type echoBody struct {
	Columns []string `yaml:"columns"`
	Rows    [][]any  `yaml:"rows"`
}

func echoKind() kind.Kind {
	return kind.Of[echoTarget](queries.SourceKind{
		Name: "echo", BodyKey: "echo",
		NewBody: func() any { return new(echoBody) },
		Compile: func(body any, q *queries.Query) (queries.Body, []queries.Problem) {
			b := body.(*echoBody)
			var out []queries.Problem
			for i, r := range b.Rows {
				if len(r) != len(b.Columns) {
					out = append(out, queries.Problem{Msg: fmt.Sprintf("echo row %d has %d values for %d columns", i, len(r), len(b.Columns))})
				}
				for j, v := range r {
					if n, ok := v.(int); ok {
						r[j] = int64(n) // rows hold int64, YAML decodes int
					}
				}
			}
			return b, out
		},
	}, "echo_up")
}

// echoTarget is an entry of targets.echo.
type echoTarget struct {
	config.Base `yaml:",inline"`
	// Scale multiplies the numbers the target says (default 1).
	Scale   int64         `yaml:"scale"`
	Timeout time.Duration `yaml:"timeout"`
}

func (e *echoTarget) Check(c *config.Check) {
	if e.Scale == 0 {
		e.Scale = 1
	}
	if e.Scale < 1 {
		c.Errorf([]any{"scale"}, "%s: scale %d must be positive", c.Subject(), e.Scale)
	}
	c.Duration("timeout", &e.Timeout, time.Second)
}

func (e *echoTarget) Build(*kind.Env) (*kind.Built, error) {
	return &kind.Built{Source: echoSource{scale: e.Scale}, Timeout: e.Timeout, Parallel: 1, Address: "here"}, nil
}

// echoSource runs echo bodies.
type echoSource struct{ scale int64 }

func (echoSource) Probe(context.Context) (queries.ServerInfo, error) {
	return queries.ServerInfo{Version: 1, Role: queries.RolePrimary}, nil
}

func (s echoSource) Run(_ context.Context, _ *queries.Query, body queries.Body) (*queries.Rows, error) {
	b := body.(*echoBody)
	rows := make([][]any, len(b.Rows))
	for i, r := range b.Rows {
		rows[i] = append([]any{}, r...)
		for j, v := range rows[i] {
			if n, ok := v.(int64); ok {
				rows[i][j] = n * s.scale
			}
		}
	}
	return &queries.Rows{Columns: b.Columns, Values: rows}, nil
}

func (echoSource) Close() {}

const echoPack = `source: echo
queries:
  - name: echo_things
    help: Things the echo source was told to say.
    echo:
      columns: [thing, said]
      rows: [[apples, 3], [pears, 5]]
    columns:
      - {name: thing, usage: label}
      - {name: said, usage: gauge}
`

const echoConfig = `targets:
  echo:
    - name: e
    - name: loud
      scale: 10
      cluster: temporal
`

func TestEchoKind(t *testing.T) {
	// the table of kinds, as collector/kinds's, built here with the one new kind
	kinds := kind.Kinds{postgres.Kind(), echoKind()}

	if _, err := queries.Parse("bad.yaml", []byte(strings.Replace(echoPack, "[pears, 5]", "[pears]", 1)), kinds.Packs()); err == nil ||
		err.Error() != `bad.yaml:3: query "echo_things": echo row 1 has 1 values for 2 columns` {
		t.Errorf("a bad echo body: %v", err)
	}
	if _, err := queries.Parse("other.yaml", []byte(strings.Replace(echoPack, "echo:\n      columns: [thing, said]\n      rows: [[apples, 3], [pears, 5]]", "sql: SELECT 1", 1)), kinds.Packs()); err == nil ||
		err.Error() != `other.yaml:3: query "echo_things": sql is not for a echo pack (it takes echo)` {
		t.Errorf("a body of another kind: %v", err)
	}
	if _, err := queries.Parse("unknown.yaml", []byte(echoPack), kind.Kinds{postgres.Kind()}.Packs()); err == nil ||
		err.Error() != `unknown.yaml:1: unknown source "echo" (want one of postgres)` {
		t.Errorf("an echo pack without the echo kind: %v", err)
	}

	// its section of the configuration: decoded strictly, checked by the kind, at file:line
	if _, err := config.Parse("bad.yml", []byte("targets:\n  echo:\n    - name: e\n      scale: -2\n    - name: f\n      scael: 2\n"), kinds.Targets()); err == nil ||
		err.Error() != "bad.yml:4: echo target \"e\": scale -2 must be positive\n"+
			`bad.yml:6: unknown key "scael" in targets.echo[1] (did you mean "scale"?)` {
		t.Errorf("a bad echo target: %v", err)
	}
	if _, err := config.Parse("none.yml", []byte("targets: {}\n"), kinds.Targets()); err == nil ||
		err.Error() != "none.yml:1: no targets: add at least one under targets.postgres or .echo" {
		t.Errorf("no targets: %v", err)
	}
	file := testenv.WriteFile(t, t.TempDir(), "echo.yml", echoConfig)
	cfg, err := config.Load(file, kinds.Targets())
	if err != nil {
		t.Fatal(err)
	}

	pack, err := queries.Parse("echo.yaml", []byte(echoPack), kinds.Packs())
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.NewSet(nil, []*queries.Pack{pack})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	targets, err := collector.NewTargets(kinds, cfg, set, log, &secret.Redactor{})
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 || targets[1].Cluster != "temporal" || targets[1].Address != "here" || targets[0].Timeout != time.Second {
		t.Fatalf("targets %+v", targets)
	}
	e := collector.NewEngine(targets, log)
	t.Cleanup(e.Close)
	rec := httptest.NewRecorder()
	e.MetricsHandler(collector.HandlerOpts{DefaultTimeout: 5 * time.Second}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`echo_up{target="e"} 1`,
		"# HELP echo_things_said Things the echo source was told to say.\n# TYPE echo_things_said gauge\n",
		`echo_things_said{target="e",thing="apples"} 3`,
		`echo_things_said{target="e",thing="pears"} 5`,
		`echo_things_said{target="loud",thing="pears"} 50`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
