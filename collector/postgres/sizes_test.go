package postgres

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestSizeQueriesAreCapped: on a database of more than 1,000 tables, the exact-size queries
// measure the 1,000 relations with the most pages, and the large ones are among them.
func TestSizeQueriesAreCapped(t *testing.T) {
	pg := env.Postgres(t)
	c := ctx(t)
	if err := pg.Primary.Exec(c, "postgres", "CREATE DATABASE sizes_cap"); err != nil {
		t.Fatal(err)
	}
	// a thousand tables would slow every other test that walks all databases
	t.Cleanup(func() {
		if err := pg.Primary.Exec(ctx(t), "postgres", "DROP DATABASE sizes_cap WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	if err := pg.Primary.ExecScript(c, "sizes_cap", `DO $$ BEGIN
  FOR i IN 1..1010 LOOP
    EXECUTE format('CREATE TABLE small%s (v int)', i);
    EXECUTE format('CREATE INDEX ON small%s (v)', i);
  END LOOP;
END $$`); err != nil {
		t.Fatal(err)
	}
	if err := pg.Primary.Exec(c, "sizes_cap",
		"CREATE TABLE big (id int, pad text)", "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g",
		"CREATE INDEX big_id ON big (id)", "ANALYZE big"); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{DSN: pg.Primary.DSN("sizes_cap"), MaxConns: 1, StatementTimeout: 20 * time.Second,
		ConnectTimeout: 5 * time.Second, Databases: &Filter{Include: []*regexp.Regexp{regexp.MustCompile("^sizes_cap$")}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.Probe(c)
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	for name, big := range map[string]string{"pg_table_sizes": "big", "pg_index_sizes": "big_id"} {
		i := slices.IndexFunc(set.For(queries.SourcePostgres), func(q *queries.Query) bool { return q.Name == name })
		if i < 0 {
			t.Fatalf("no %s in the default packs", name)
		}
		q := set.For(queries.SourcePostgres)[i]
		body, skip, _ := q.Plan(info)
		if skip != "" {
			t.Fatalf("%s skipped: %s", name, skip)
		}
		rows, err := s.Run(c, q, body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rows.Len() != 1000 {
			t.Errorf("%s: %d rows of 1,011 relations, want the cap of 1,000", name, rows.Len())
		}
		col := slices.Index(rows.Columns, "relname")
		if name == "pg_index_sizes" {
			col = slices.Index(rows.Columns, "indexrelname")
		}
		found := false
		for r := range rows.Len() {
			found = found || rows.Value(r, col) == big
		}
		if !found {
			t.Errorf("%s: the largest relation %s was not measured", name, big)
		}
	}
}
