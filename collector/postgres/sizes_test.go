package postgres

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestSizeQueriesAreCapped: on a database of more than 200 tables, the exact-size queries
// measure the 200 relations with the most pages (the advisor's gathers too: no row limit
// passed), and the large ones are among them.
func TestSizeQueriesAreCapped(t *testing.T) {
	pg, c := scratchDatabase(t, "sizes_cap")
	if err := pg.Primary.ExecScript(c, "sizes_cap", `DO $$ BEGIN
  FOR i IN 1..210 LOOP
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
	for name, big := range map[string]string{"pg_table_sizes": "big", "pg_index_sizes": "big_id"} {
		rows := runDefaultQuery(t, pg, "sizes_cap", name)
		if rows.Len() != 200 {
			t.Errorf("%s: %d rows of 211 relations, want the cap of 200", name, rows.Len())
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

// TestIndexDefinitionsArePairs: pg_index_definitions returns the indexes whose key columns
// equal or begin another's of the same table and access method (a duplicate or covered pair
// can only be made of those), with their key column names, and no other index.
func TestIndexDefinitionsArePairs(t *testing.T) {
	pg, c := scratchDatabase(t, "index_pairs")
	if err := pg.Primary.Exec(c, "index_pairs",
		"CREATE TABLE a (id int PRIMARY KEY, x int, y int, z text, w int)",
		"CREATE INDEX a_x ON a (x)", "CREATE INDEX a_xy ON a (x, y)", "CREATE INDEX a_xy2 ON a (x, y)",
		"CREATE UNIQUE INDEX a_id_u ON a (id)", // pairs with a_pkey
		"CREATE INDEX a_lower ON a (lower(z))", "CREATE INDEX a_lower2 ON a (lower(z))",
		"CREATE INDEX a_hash ON a USING hash (w)", "CREATE INDEX a_hash2 ON a USING hash (w)",
		"CREATE INDEX a_w_incl ON a (w) INCLUDE (x)", "CREATE INDEX a_wx ON a (w, x)",
		"CREATE INDEX a_yx ON a (y, x)",              // begins no other, none begins it
		"CREATE INDEX a_zx ON a USING hash (z)",      // the only hash index on z
		"CREATE TABLE b (id int PRIMARY KEY, v int)", // alone on their columns
		"CREATE INDEX b_v ON b (v)"); err != nil {
		t.Fatal(err)
	}
	rows := runDefaultQuery(t, pg, "index_pairs", "pg_index_definitions")
	name, cols := slices.Index(rows.Columns, "indexrelname"), slices.Index(rows.Columns, "key_columns")
	got := map[string]any{}
	for r := range rows.Len() {
		got[rows.Value(r, name).(string)] = rows.Value(r, cols)
	}
	want := map[string]any{"a_pkey": "id", "a_id_u": "id", "a_x": "x", "a_xy": "x,y", "a_xy2": "x,y",
		"a_lower": "(expression)", "a_lower2": "(expression)", "a_hash": "w", "a_hash2": "w", "a_w_incl": "w", "a_wx": "w,x"}
	if !maps.Equal(got, want) {
		t.Errorf("indexes and key columns:\n got %v\nwant %v", got, want)
	}
}

// scratchDatabase creates database db on the shared primary for one test, and drops it at the
// test's end: its many relations would slow the other tests that walk every database.
func scratchDatabase(t *testing.T, db string) (*testenv.PGCluster, context.Context) {
	t.Helper()
	pg := env.Postgres(t)
	c := ctx(t)
	if err := pg.Primary.Exec(c, "postgres", "CREATE DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pg.Primary.Exec(ctx(t), "postgres", "DROP DATABASE "+db+" WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	return pg, c
}

// runDefaultQuery runs the default pack's query name on database db alone, as a gather does.
func runDefaultQuery(t *testing.T, pg *testenv.PGCluster, db, name string) *queries.Rows {
	t.Helper()
	c := ctx(t)
	s, err := New(Options{DSN: pg.Primary.DSN(db), MaxConns: 1, StatementTimeout: 20 * time.Second,
		ConnectTimeout: 5 * time.Second, Databases: &Filter{Include: []*regexp.Regexp{regexp.MustCompile("^" + db + "$")}}})
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
	return rows
}
