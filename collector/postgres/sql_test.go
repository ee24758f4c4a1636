package postgres

import (
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestCheckReadSQL(t *testing.T) {
	for _, tc := range []struct {
		source, sql, want string // want: "" for accepted, else a part of the message
	}{
		{queries.SourcePostgres, "SELECT 1 AS x", ""},
		{queries.SourcePostgres, "  -- leading comment\n/* block; */ WITH a AS (SELECT 1) SELECT * FROM a;", ""},
		{queries.SourcePostgres, "(SELECT 1) UNION (SELECT 2)", ""},
		{queries.SourcePostgres, "SHOW work_mem", ""},
		{queries.SourcePostgres, "TABLE pg_stat_database", ""},
		{queries.SourcePostgres, "VALUES (1), (2)", ""},
		{queries.SourcePostgres, "SELECT pg_current_wal_insert_lsn() AS insert, 'x; DELETE' AS s, $q$ ; update $q$ AS d", ""},
		{queries.SourcePostgres, `SELECT "update" FROM t`, ""},
		{queries.SourcePostgres, "SELECT n_tup_upd, n_tup_del FROM pg_stat_user_tables", ""},
		{queries.SourcePostgres, "SELEKT 1 AS x FROM", "not SELEKT"},
		{queries.SourcePostgres, "", "not nothing"},
		{queries.SourcePostgres, "CREATE TABLE t (id int)", "not CREATE"},
		{queries.SourcePostgres, "SET default_transaction_read_only = off", "not SET"},
		{queries.SourcePostgres, "SELECT 1; COMMIT", "more than one statement"},
		{queries.SourcePostgres, "SELECT 1 AS a; SELECT 2 AS b;", "more than one statement"},
		{queries.SourcePostgres, "WITH w AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM w", "INSERT writes"},
		{queries.SourcePostgres, "WITH w AS (DELETE FROM t RETURNING id) SELECT id FROM w", "DELETE writes"},
		{queries.SourcePostgres, "SELECT * INTO copy_of_t FROM t", "INTO writes"},
		{queries.SourcePostgres, "SELECT * FROM t FOR UPDATE", "FOR UPDATE writes or locks"},
		{queries.SourcePostgres, "SELECT * FROM t FOR NO KEY UPDATE", "FOR NO KEY UPDATE"},
		{queries.SourcePostgres, "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config() acts"},
		{queries.SourcePostgres, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend()"},
		{queries.SourcePostgres, "SELECT nextval('s')", "nextval()"},
		{queries.SourcePostgres, "SELECT pg_advisory_lock(1)", "pg_advisory_lock()"},
		{queries.SourcePostgres, "SELECT pg_stat_reset()", "pg_stat_reset()"},
		{queries.SourcePostgres, "SELECT * FROM t FOR KEY SHARE", "FOR KEY SHARE writes or locks"},
		{queries.SourcePostgres, "SELECT * FROM t for\n  share", "FOR SHARE writes or locks"},
		{queries.SourcePostgres, "SELECT * FROM t FOR (UPDATE)", "UPDATE writes"},
		{queries.SourcePostgres, "SELECT x AS a$insert, y AS update_count, z as _into FROM t", ""},
		{queries.SourcePostgres, "SELECT x AS\n  insert FROM t", ""},
		{queries.SourcePostgres, "SELECT x AS (insert) FROM t", "INSERT writes"},
		{queries.SourcePostgres, "SELECT t.copy FROM t", "COPY writes"},
		{queries.SourcePostgres, "SELECT pg_stat_reset_shared ('bgwriter')", "pg_stat_reset_shared()"},
		{queries.SourcePostgres, "SELECT lo_unlink(42)", "lo_unlink()"},
		{queries.SourcePostgres, "SELECT lo_(42)", ""},
		{queries.SourcePostgres, "SELECT pg_create_logical_replication_slot('s', 'pgoutput')", "pg_create_logical_replication_slot()"},
		{queries.SourcePostgres, "SELECT pg_create_physical_replication_slots(1)", ""},
		{queries.SourcePostgres, "SELECT PG_ADVISORY_XACT_LOCK_SHARED(1)", "pg_advisory_xact_lock_shared()"},
		{queries.SourcePostgres, "SELECT pg_advisory_unlock_all", ""},
		{queries.SourcePostgres, "SELECT pg_catalog.setval('s', 1)", "setval()"},
		{queries.SourcePostgres, "SELECT dblink_exec('x')", "dblink_exec()"},
		{queries.SourcePostgres, "SELECT my_nextval(1), nextval_count FROM t", ""},
		{queries.SourcePgbouncer, "SHOW POOLS", ""},
		{queries.SourcePgbouncer, "SHUTDOWN", "not SHUTDOWN"},
		{queries.SourcePgbouncer, "SELECT 1", "(SHOW), not SELECT"},
	} {
		got := checkReadSQL(tc.source, tc.sql)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: %q, want %q", tc.source, tc.sql, got, tc.want)
		}
	}
}

// A pack statement that is not a read is refused at load time, with its file and line.
func TestWriteInPackIsRefused(t *testing.T) {
	_, err := queries.Parse("writes.yaml", []byte(`queries:
  - name: ok
    sql: SELECT 1 AS c
    columns: [{name: c, usage: gauge}]
  - name: sneaky
    sql: SELECT set_config('default_transaction_read_only', 'off', false) AS c
    columns: [{name: c, usage: gauge}]
  - name: typo
    variants:
      - {sql: SELEKT 1 AS c FROM}
    columns: [{name: c, usage: gauge}]
`), allKinds())
	if err == nil {
		t.Fatal("a pack with a write was accepted")
	}
	for _, want := range []string{
		`writes.yaml:5: query "sneaky": sql must only read: set_config() acts beyond the statement`,
		`writes.yaml:10: query "typo": sql must be a read statement (SELECT, WITH, SHOW, TABLE, VALUES), not SELEKT`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nlacks %q", err, want)
		}
	}
}

// A query whose top is pushed down must take the cap as $1 (outside strings and comments).
func TestPushdownNeedsParameter(t *testing.T) {
	for sql, ok := range map[string]bool{
		"SELECT l, v FROM t ORDER BY v DESC LIMIT $1":              true,
		"SELECT l, v FROM t ORDER BY v DESC LIMIT coalesce($1, 5)": true,
		"SELECT l, v FROM t ORDER BY v DESC LIMIT 5":               false,
		"SELECT l, v FROM t /* $1 */ ORDER BY v DESC LIMIT $10":    false,
		"SELECT l, '$1' AS v FROM t":                               false,
	} {
		pack := "queries:\n  - name: q\n    sql: \"" + sql + "\"\n    top: {n: 2, by: v, pushdown: true}\n" +
			"    columns: [{name: l, usage: label}, {name: v, usage: gauge}]\n"
		_, err := queries.Parse("p.yaml", []byte(pack), allKinds())
		if (err == nil) != ok {
			t.Errorf("%s: error %v, want one: %v", sql, err, !ok)
		}
	}
}
