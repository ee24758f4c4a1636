package queries

import (
	"strings"
	"testing"
)

func TestCheckReadSQL(t *testing.T) {
	for _, tc := range []struct {
		source, sql, want string // want: "" for accepted, else a part of the message
	}{
		{SourcePostgres, "SELECT 1 AS x", ""},
		{SourcePostgres, "  -- leading comment\n/* block; */ WITH a AS (SELECT 1) SELECT * FROM a;", ""},
		{SourcePostgres, "(SELECT 1) UNION (SELECT 2)", ""},
		{SourcePostgres, "SHOW work_mem", ""},
		{SourcePostgres, "TABLE pg_stat_database", ""},
		{SourcePostgres, "VALUES (1), (2)", ""},
		{SourcePostgres, "SELECT pg_current_wal_insert_lsn() AS insert, 'x; DELETE' AS s, $q$ ; update $q$ AS d", ""},
		{SourcePostgres, `SELECT "update" FROM t`, ""},
		{SourcePostgres, "SELECT n_tup_upd, n_tup_del FROM pg_stat_user_tables", ""},
		{SourcePostgres, "SELEKT 1 AS x FROM", "not SELEKT"},
		{SourcePostgres, "", "not nothing"},
		{SourcePostgres, "CREATE TABLE t (id int)", "not CREATE"},
		{SourcePostgres, "SET default_transaction_read_only = off", "not SET"},
		{SourcePostgres, "SELECT 1; COMMIT", "more than one statement"},
		{SourcePostgres, "SELECT 1 AS a; SELECT 2 AS b;", "more than one statement"},
		{SourcePostgres, "WITH w AS (INSERT INTO t VALUES (1) RETURNING id) SELECT id FROM w", "INSERT writes"},
		{SourcePostgres, "WITH w AS (DELETE FROM t RETURNING id) SELECT id FROM w", "DELETE writes"},
		{SourcePostgres, "SELECT * INTO copy_of_t FROM t", "INTO writes"},
		{SourcePostgres, "SELECT * FROM t FOR UPDATE", "FOR UPDATE writes or locks"},
		{SourcePostgres, "SELECT * FROM t FOR NO KEY UPDATE", "FOR NO KEY UPDATE"},
		{SourcePostgres, "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config() acts"},
		{SourcePostgres, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "pg_terminate_backend()"},
		{SourcePostgres, "SELECT nextval('s')", "nextval()"},
		{SourcePostgres, "SELECT pg_advisory_lock(1)", "pg_advisory_lock()"},
		{SourcePostgres, "SELECT pg_stat_reset()", "pg_stat_reset()"},
		{SourcePgbouncer, "SHOW POOLS", ""},
		{SourcePgbouncer, "SHUTDOWN", "not SHUTDOWN"},
		{SourcePgbouncer, "SELECT 1", "(SHOW), not SELECT"},
	} {
		got := checkReadSQL(tc.source, tc.sql)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %q: %q, want %q", tc.source, tc.sql, got, tc.want)
		}
	}
}

// A pack statement that is not a read is refused at load time, with its file and line.
func TestWriteInPackIsRefused(t *testing.T) {
	_, err := Parse("writes.yaml", []byte(`queries:
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
`), BuiltinKinds())
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
