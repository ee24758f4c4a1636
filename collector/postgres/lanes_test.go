package postgres

import (
	"testing"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestMayLock(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT * FROM pg_stat_user_tables":                                                     false,
		"SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON true":               false,
		"WITH t AS (SELECT 1 AS x) SELECT x FROM t":                                             false,
		"SELECT * FROM pg_ls_waldir()":                                                          false,
		"SELECT * FROM information_schema.tables":                                               false,
		"SELECT 1 -- FROM executions":                                                           false,
		"SELECT 'FROM executions' AS s":                                                         false,
		"SELECT pg_table_size(oid) FROM pg_class":                                               true,
		"SELECT * FROM pgstattuple_approx(42)":                                                  true,
		"SELECT count(*) FROM executions":                                                       true,
		"SELECT count(*) FROM cron.job_run_details":                                             true,
		"SELECT a.x FROM pg_stat_activity a JOIN temporal.history_node h ON true":               true,
		"SELECT extract(epoch FROM r.write_lag) FROM pg_stat_replication r":                     false,
		"EXPLAIN SELECT 1":                                                                      true,
		"  explain(analyze) SELECT 1":                                                           true,
		"SELECT 1 AS explain":                                                                   false,
		"SELECT * FROM ONLY executions":                                                         true,
		"SELECT * FROM only pg_class":                                                           false,
		"SELECT * FROM lateral (SELECT 1) s":                                                    false,
		"SELECT * FROM pg_class c, LATERAL unnest(c.relacl) a":                                  false,
		"SELECT * FROM \"executions\"":                                                          true,
		"SELECT * FROM pg_class c JOIN s.t ON true":                                             true,
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION SELECT n + 1 FROM r) SELECT n FROM r":           false,
		"WITH a AS NOT MATERIALIZED (SELECT 1), b AS (SELECT 2) SELECT * FROM a JOIN b ON true": false,
		"WITH a AS (SELECT 1) SELECT * FROM a JOIN b ON true":                                   true,
		"SELECT substring(s FROM 2 FOR 3), trim(both 'x' from y) FROM pg_class":                 false,
		"SELECT extract(epoch FROM now()) FROM executions":                                      true,
		"SELECT extract(epoch FROM (now())) FROM pg_class":                                      false,
		"SELECT hypopg_create_index('CREATE INDEX ON t (a)')":                                   true,
		"SELECT pg_relation_size (oid)":                                                         true,
		"SELECT pg_relation_size_total FROM pg_class":                                           false,
	} {
		if got := decideMayLock(sql); got != want {
			t.Errorf("%q: may lock %v, want %v", sql, got, want)
		}
	}
	// the default pack: the statements that open relations, or read pg_cron's tables (user
	// tables: a cron.job lock blocks them), are the locking ones
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	locking := map[string]bool{}
	for _, q := range set.For(queries.SourcePostgres) {
		bodies := []string{sqlOf(q.Body)}
		for _, v := range q.Variants {
			bodies = append(bodies, sqlOf(v.Body))
		}
		for _, b := range bodies {
			if b != "" && decideMayLock(b) {
				locking[q.Name] = true
			}
		}
	}
	for _, name := range []string{"pg_table_sizes", "pg_index_sizes", "pg_table_bloat", "pg_index_bloat", "pg_cron_jobs"} {
		if !locking[name] {
			t.Errorf("%s is not in the locking lane", name)
		}
		delete(locking, name)
	}
	if len(locking) > 0 {
		t.Errorf("statistics queries put in the locking lane: %v", locking)
	}
}
