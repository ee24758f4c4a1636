package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestCheckConfigConnect: a statement that reads (so the loader takes it) but does not
// parse or names a missing column passes plain check-config, which says that SQL was not
// checked; with --connect, each is reported with its pack's file:line and the target, and
// the exit code is 1. An unreachable target is named as not checked.
func TestCheckConfigConnect(t *testing.T) {
	pg := env.Postgres(t)
	dir := t.TempDir()
	pack := testenv.WriteFile(t, dir, "mine.yaml", `queries:
  - name: broken_syntax
    sql: SELECT 1 AS x FROM
    columns: [{name: x, usage: gauge}]
  - name: missing_column
    sql: SELECT no_such_column AS x FROM pg_stat_activity
    columns: [{name: x, usage: gauge}]
  - name: fine
    sql: SELECT count(*) AS x FROM pg_stat_activity
    columns: [{name: x, usage: gauge}]
`)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.WriteFile(t, dir, "connect.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable
    - name: closed
      dsn: postgres://postgres:`+testPassword+`@127.0.0.1:%d/postgres?sslmode=disable
      query_timeout: 2s
packs: [%s]
`, pg.Primary.Port, port, pack))

	code, out, errOut := runCLI("check-config", "--config.file="+cfg)
	if code != 0 || !strings.Contains(out, "SQL not checked") {
		t.Errorf("without --connect: exit %d, stdout %q, stderr %q; want 0 and that SQL was not checked", code, out, errOut)
	}
	code, out, errOut = runCLI("check-config", "--connect", "--config.file="+cfg)
	if code != 1 {
		t.Errorf("with --connect: exit %d, want 1; stdout %q stderr %q", code, out, errOut)
	}
	for _, want := range []string{
		pack + `:2: query "broken_syntax" on target "primary": ERROR: syntax error at end of input (SQLSTATE 42601)`,
		pack + `:5: query "missing_column" on target "primary": ERROR: column "no_such_column" does not exist (SQLSTATE 42703)`,
		"not checked on 1 unreachable targets: closed",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, `"fine"`) || strings.Contains(errOut, testPassword) {
		t.Errorf("stderr names the good query or shows a password:\n%s", errOut)
	}
}
