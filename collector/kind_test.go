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
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// echo is a fictional source kind, written here and nowhere else: its body lists the rows
// the query returns. That a pack of it loads and its rows become metrics through the engine,
// with no other package changed, is what "a source kind is one value" means.
type echoBody struct {
	Columns []string `yaml:"columns"`
	Rows    [][]any  `yaml:"rows"`
}

func echoKind() queries.SourceKind {
	return queries.SourceKind{
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
	}
}

// echoSource runs echo bodies.
type echoSource struct{}

func (echoSource) Probe(context.Context) (queries.ServerInfo, error) {
	return queries.ServerInfo{Version: 1, Role: queries.RolePrimary}, nil
}

func (echoSource) Run(_ context.Context, _ *queries.Query, body queries.Body) (*queries.Rows, error) {
	b := body.(*echoBody)
	return &queries.Rows{Columns: b.Columns, Values: b.Rows}, nil
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

func TestEchoKind(t *testing.T) {
	// the table of kinds, as cmd/persistence_exporter's, built here with the one new kind
	kinds := queries.SourceKinds{postgres.Kind(), echoKind()}

	if _, err := queries.Parse("bad.yaml", []byte(strings.Replace(echoPack, "[pears, 5]", "[pears]", 1)), kinds); err == nil ||
		err.Error() != `bad.yaml:3: query "echo_things": echo row 1 has 1 values for 2 columns` {
		t.Errorf("a bad echo body: %v", err)
	}
	if _, err := queries.Parse("other.yaml", []byte(strings.Replace(echoPack, "echo:\n      columns: [thing, said]\n      rows: [[apples, 3], [pears, 5]]", "sql: SELECT 1", 1)), kinds); err == nil ||
		err.Error() != `other.yaml:3: query "echo_things": sql is not for a echo pack (it takes echo)` {
		t.Errorf("a body of another kind: %v", err)
	}
	if _, err := queries.Parse("unknown.yaml", []byte(echoPack), queries.SourceKinds{postgres.Kind()}); err == nil ||
		err.Error() != `unknown.yaml:1: unknown source "echo" (want one of postgres)` {
		t.Errorf("an echo pack without the echo kind: %v", err)
	}

	pack, err := queries.Parse("echo.yaml", []byte(echoPack), kinds)
	if err != nil {
		t.Fatal(err)
	}
	e := collector.NewEngine([]*collector.Target{{
		Name: "e", Kind: "echo", UpMetric: "echo_up", Source: echoSource{}, Queries: pack.Queries,
		Timeout: time.Second, Parallel: 1,
	}}, slog.New(slog.DiscardHandler))
	t.Cleanup(e.Close)
	rec := httptest.NewRecorder()
	e.MetricsHandler(collector.HandlerOpts{DefaultTimeout: 5 * time.Second}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`echo_up{target="e"} 1`,
		"# HELP echo_things_said Things the echo source was told to say.\n# TYPE echo_things_said gauge\n",
		`echo_things_said{target="e",thing="apples"} 3`,
		`echo_things_said{target="e",thing="pears"} 5`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
