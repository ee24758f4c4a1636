package advisor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestRenamedColumnIsReported: a pack whose query no longer gives a column a fact reads (a
// rename in the SQL and its column list) makes the checks that need the query say so, naming
// the query and the column, instead of reading zero and going quiet. The same server with the
// default packs gives the check its input.
func TestRenamedColumnIsReported(t *testing.T) {
	text := testenv.ReadFile(t, "../queries/packs/postgres_server.yaml")
	renamed := strings.NewReplacer("AS used,", "AS used_now,", "{name: used, usage: gauge", "{name: used_now, usage: gauge").Replace(string(text))
	if strings.Count(renamed, "used_now") != 2 {
		t.Fatalf("the rename of pg_connections.used did not apply: %d places", strings.Count(renamed, "used_now"))
	}
	user, err := queries.Parse("renamed/postgres_server.yaml", []byte(renamed), kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := queries.Defaults(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.NewSet(defaults, []*queries.Pack{user})
	if err != nil {
		t.Fatal(err)
	}
	pg := env.PostgresNamed(t, "healthy", testenv.PGOptions{Replica: true})
	c := ctx(t, 2*time.Minute)

	skipped := func(rep *advisor.Report) map[string]string {
		out := map[string]string{}
		for _, s := range rep.Skipped {
			if s.Check == "connections" {
				out[s.Target] = s.Reason
			}
		}
		return out
	}
	if sk := skipped(newRunner(t, pg, "postgres", advisor.DefaultConfig()).Run(c)); len(sk) != 0 {
		t.Fatalf("with the default packs the connections check is skipped: %v", sk)
	}
	rep := newRunnerWith(t, pg, "postgres", advisor.DefaultConfig(), set).Run(c)
	sk := skipped(rep)
	for _, s := range []*testenv.PGServer{pg.Primary, pg.Replica} {
		if r := sk[s.Name]; !strings.Contains(r, "query pg_connections") || !strings.Contains(r, "no column used") {
			t.Errorf("connections on %s: skipped because %q, want the query and the column named", s.Name, r)
		}
	}
	for _, f := range rep.Findings {
		if f.Check == "connections" {
			t.Errorf("a finding from a query without its column: %+v", f)
		}
	}
}
