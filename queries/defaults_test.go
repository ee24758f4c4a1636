package queries_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestDefaultPacksLoad(t *testing.T) {
	set, err := queries.DefaultSet(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(queries.SourcePostgres)
	if len(qs) == 0 {
		t.Fatal("no default PostgreSQL queries")
	}
	for _, q := range qs {
		if q.Help == "" {
			t.Errorf("%s:%d: query %q has no help", q.File, q.Line, q.Name)
		}
		for _, m := range q.Metrics {
			if m.Help == m.Name {
				t.Errorf("%s:%d: metric %q has no help of its own", q.File, q.Line, m.Name)
			}
			if strings.Contains(m.Name, "_milliseconds") {
				t.Errorf("metric %q: use base units (seconds) in new metric names", m.Name)
			}
		}
	}
}

// TestDefaultPacksAreStrict: the embedded packs load without the strict second parse (a
// start does not pay for it), so they are held to it here, from their files: an unknown or
// misspelt key in them fails this test rather than being ignored at run time.
func TestDefaultPacksAreStrict(t *testing.T) {
	dir := "packs" // the package directory, where the files are embedded from
	strict, err := queries.LoadPaths([]string{dir}, kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := queries.Defaults(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	if len(strict) != len(embedded) {
		t.Fatalf("%d packs parsed strictly, %d embedded", len(strict), len(embedded))
	}
	for i := range strict {
		if a, b := len(strict[i].Queries), len(embedded[i].Queries); a != b {
			t.Errorf("%s: %d queries strictly, %d embedded", strict[i].File, a, b)
		}
	}
	// an unknown key: accepted by the lenient decode only
	bad := "source: postgres\nqueries:\n  - name: q\n    hlep: typo\n    sql: SELECT 1 AS v\n    columns:\n      - {name: v, usage: gauge}\n"
	if _, err := queries.Parse("bad.yaml", []byte(bad), kinds.All.Packs()); err == nil || !strings.Contains(err.Error(), "hlep") {
		t.Errorf("strict parse of an unknown key: %v", err)
	}
}

// TestDefaultsOfConfiguredKinds: only the embedded packs of the sources asked for are read.
func TestDefaultsOfConfiguredKinds(t *testing.T) {
	all, err := queries.Defaults(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	pg, err := queries.DefaultsOf(kinds.All.Packs(), func(s string) bool { return s == queries.SourcePostgres })
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, p := range all {
		if p.Source == queries.SourcePostgres {
			want++
		}
	}
	if len(pg) != want || want == 0 || want == len(all) {
		t.Fatalf("%d PostgreSQL packs of %d, want %d", len(pg), len(all), want)
	}
	for _, p := range pg {
		if p.Source != queries.SourcePostgres {
			t.Errorf("%s: source %s", p.File, p.Source)
		}
	}
}

// The example queries.yaml of postgres_exporter 0.12 has a HISTOGRAM query: the file loads,
// that query is left out with one warning that names its file:line, and the others join the
// default packs (replacing the default queries and metrics they share names with).
func TestCompatExampleWithHistogram(t *testing.T) {
	const file = "testdata/postgres_exporter_example.yaml"
	data := testenv.ReadFile(t, file)
	p, err := queries.Parse(file, data, kinds.All.Packs())
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	var names []string
	for _, q := range p.Queries {
		names = append(names, q.Name)
	}
	if strings.Join(names, ",") != "pg_replication,pg_postmaster,pg_stat_user_tables" {
		t.Errorf("queries %v", names)
	}
	want := file + `:63: query "pg_process_idle" is skipped: column "seconds" has usage HISTOGRAM, which persistence_exporter does not export; the file's other queries are loaded`
	if len(p.Skipped) != 1 || p.Skipped[0].String() != want {
		t.Errorf("skipped %v, want one: %s", p.Skipped, want)
	}
	defaults, err := queries.Defaults(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.NewSet(defaults, []*queries.Pack{p})
	if err != nil {
		t.Fatalf("the example does not join the default packs: %v", err)
	}
	var replaced []string
	for _, r := range set.Replaced {
		replaced = append(replaced, r.Default.Name)
	}
	slices.Sort(replaced)
	if strings.Join(replaced, ",") != "pg_replication,pg_stat_user_tables" {
		t.Errorf("replaced default queries %v", replaced)
	}
	if len(set.Shadowed) != 1 || set.Shadowed[0].Metric != "pg_postmaster_start_time_seconds" || set.Shadowed[0].Default.Name != "pg_system" || set.Shadowed[0].By.Name != "pg_postmaster" {
		t.Errorf("shadowed default metrics %+v", set.Shadowed)
	}
	// one query produces each metric: the default pg_system keeps its other metrics
	producers := map[string][]string{}
	for _, q := range set.For(queries.SourcePostgres) {
		for _, m := range q.Metrics {
			producers[m.Name] = append(producers[m.Name], q.Name)
		}
		if q.Name == "pg_system" && len(q.Metrics) == 0 {
			t.Error("pg_system lost all its metrics")
		}
	}
	if got := producers["pg_postmaster_start_time_seconds"]; len(got) != 1 || got[0] != "pg_postmaster" {
		t.Errorf("pg_postmaster_start_time_seconds comes from %v, want the user's pg_postmaster alone", got)
	}

	// a file of a HISTOGRAM query alone loads too, with nothing in it
	only, err := queries.Parse("only.yaml", []byte("q:\n  query: SELECT 1\n  metrics:\n    - h:\n        usage: histogram\n"), kinds.All.Packs())
	if err != nil || len(only.Queries) != 0 || len(only.Skipped) != 1 || only.Skipped[0].Line != 5 {
		t.Errorf("a file with one HISTOGRAM query: %+v, %v", only, err)
	}
}
