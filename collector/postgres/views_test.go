package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// viewStatements read the statistics views the way the packs did before they read the views'
// functions on pg_class (top.pushdown): the reference the packs' statements must equal.
var viewStatements = map[string]string{
	"pg_stat_user_tables": `SELECT current_database() AS datname, s.*,
       io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
       io.toast_blks_read, io.toast_blks_hit, io.tidx_blks_read, io.tidx_blks_hit,
       age(c.relfrozenxid) AS relfrozenxid_age, mxid_age(c.relminmxid) AS relminmxid_age,
       c.reltuples::float8 AS reltuples, c.relpages, c.relkind::text AS relkind,
       coalesce(array_to_string(c.reloptions, ','), '') AS reloptions
FROM pg_stat_user_tables s
JOIN pg_statio_user_tables io ON io.relid = s.relid
JOIN pg_class c ON c.oid = s.relid`,
	"pg_stat_user_indexes": `SELECT current_database() AS datname, s.*, io.idx_blks_read, io.idx_blks_hit, c.relpages,
       i.indisunique::int AS is_unique, i.indisprimary::int AS is_primary,
       i.indisvalid::int AS is_valid, i.indisready::int AS is_ready,
       k.conindid IS NOT NULL AS constraint_backed
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class c ON c.oid = s.indexrelid
LEFT JOIN (SELECT DISTINCT conindid FROM pg_constraint WHERE conindid <> 0) k ON k.conindid = s.indexrelid`,
}

// checkStatisticsAsViews runs the statements of the queries that read the statistics views'
// functions (the variant of the server's version) in db, with $1 NULL and with $1 = 1, and
// checks them against the views in the same statistics snapshot: the same rows and, in every
// column the views have, the same values; with 1, only the row of the most pages. key names
// the column that identifies a row.
func checkStatisticsAsViews(t *testing.T, c context.Context, pg *testenv.PGCluster, major int, db string, qs []*queries.Query) {
	t.Helper()
	conn, err := pgx.Connect(c, pg.Primary.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	tx, err := conn.Begin(c)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(c) //nolint:errcheck // read only
	if major >= 15 {
		if _, err := tx.Exec(c, "SET LOCAL stats_fetch_consistency = snapshot"); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string]string{"pg_stat_user_tables": "relid", "pg_stat_user_indexes": "indexrelid"}
	for _, q := range qs {
		ref, ok := viewStatements[q.Name]
		if !ok {
			continue
		}
		v := q.VariantFor(major*10000, nil)
		if v == nil || !q.PushesDownTop() {
			t.Errorf("%s: no variant for %d, or its top is not pushed down", q.Name, major)
			continue
		}
		want := readAll(t, c, tx, q.Name+" (views)", ref)
		got := readAll(t, c, tx, q.Name, sqlOf(v.Body), nil)
		if len(want) == 0 || len(got) != len(want) {
			t.Errorf("%s on %d, %s: %d rows, the views %d", q.Name, major, db, len(got), len(want))
			continue
		}
		byKey := map[string]map[string]string{}
		for _, r := range want {
			byKey[r[keys[q.Name]]] = r
		}
		for _, r := range got {
			w, ok := byKey[r[keys[q.Name]]]
			if !ok {
				t.Errorf("%s on %d, %s: row %v is not in the views", q.Name, major, db, r)
				continue
			}
			for col, wv := range w {
				if gv, ok := r[col]; !ok || gv != wv {
					t.Errorf("%s on %d, %s, %s %s: %s = %q (present %v), the views %q", q.Name, major, db, keys[q.Name], r[keys[q.Name]], col, gv, ok, wv)
				}
			}
		}
		for col := range got[0] {
			if _, ok := want[0][col]; !ok && !slices.Contains([]string{"datname", "relfrozenxid_age"}, col) {
				t.Errorf("%s on %d: column %s is not the views'", q.Name, major, col)
			}
		}
		top := readAll(t, c, tx, q.Name+" top 1", sqlOf(v.Body), int64(1))
		most := 0
		for i, r := range want {
			if atoi(r["relpages"]) > atoi(want[most]["relpages"]) {
				most = i
			}
		}
		if len(top) != 1 || top[0]["relpages"] != want[most]["relpages"] {
			t.Errorf("%s on %d, $1 = 1: %v, want the row of %s pages", q.Name, major, top, want[most]["relpages"])
		}
	}
}

func readAll(t *testing.T, c context.Context, tx pgx.Tx, what, sql string, args ...any) []map[string]string {
	t.Helper()
	rows, err := tx.Query(c, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r := map[string]string{}
		for i, fd := range rows.FieldDescriptions() {
			r[fd.Name] = fmt.Sprint(normalize(vals[i]))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

func atoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}
