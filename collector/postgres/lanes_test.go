package postgres

import (
	"testing"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestMayLock(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT * FROM pg_stat_user_tables":                                       false,
		"SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_namespace n ON true": false,
		"WITH t AS (SELECT 1 AS x) SELECT x FROM t":                               false,
		"SELECT * FROM pg_ls_waldir()":                                            false,
		"SELECT * FROM information_schema.tables":                                 false,
		"SELECT 1 -- FROM executions":                                             false,
		"SELECT 'FROM executions' AS s":                                           false,
		"SELECT pg_table_size(oid) FROM pg_class":                                 true,
		"SELECT * FROM pgstattuple_approx(42)":                                    true,
		"SELECT count(*) FROM executions":                                         true,
		"SELECT count(*) FROM cron.job_run_details":                               true,
		"SELECT a.x FROM pg_stat_activity a JOIN temporal.history_node h ON true": true,
		"SELECT extract(epoch FROM r.write_lag) FROM pg_stat_replication r":       false,
		"EXPLAIN SELECT 1":                                                        true,
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
