package postgres

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

func newSource(t *testing.T, dsn string, maxConns int) *Source {
	t.Helper()
	s, err := New(Options{DSN: dsn, MaxConns: maxConns, StatementTimeout: 5 * time.Second, LockTimeout: time.Second, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestProbeRoles(t *testing.T) {
	pg := env.Postgres(t)
	if err := pg.Primary.Exec(ctx(t), "postgres", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		server *testenv.PGServer
		role   queries.Role
	}{{pg.Primary, queries.RolePrimary}, {pg.Replica, queries.RoleReplica}} {
		info, err := newSource(t, tc.server.DSN("postgres"), 2).Probe(ctx(t))
		if err != nil {
			t.Fatalf("%s: %v", tc.server.Name, err)
		}
		if info.Role != tc.role {
			t.Errorf("%s: role %q, want %q", tc.server.Name, info.Role, tc.role)
		}
		if info.Version != pg.Version {
			t.Errorf("%s: version %d, want %d", tc.server.Name, info.Version, pg.Version)
		}
		if !info.Features["extension:pg_stat_statements"] {
			t.Errorf("%s: features %v lack extension:pg_stat_statements", tc.server.Name, info.Features)
		}
	}
}

func TestSessionIsReadOnlyAndBounded(t *testing.T) {
	pg := env.Postgres(t)
	s := newSource(t, pg.Primary.DSN("postgres"), 2)
	rows, err := s.query(ctx(t), `SELECT current_setting('default_transaction_read_only') AS ro,
		current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,
		current_setting('application_name') AS app`)
	if err != nil {
		t.Fatal(err)
	}
	got := rows.Values[0]
	want := []any{"on", "5s", "1s", ApplicationName}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s = %v, want %v", rows.Columns[i], got[i], want[i])
		}
	}
	if _, err := s.query(ctx(t), "CREATE TABLE must_not_exist (id int)"); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("a write on the exporter's session: err = %v, want a read-only transaction error", err)
	}
}

func TestConnectionCap(t *testing.T) {
	pg := env.Postgres(t)
	s := newSource(t, pg.Primary.DSN("postgres"), 2)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.query(ctx(t), "SELECT pg_sleep(0.2)")
			errs <- err
		}()
	}
	// while they run, count the exporter's sessions from another connection
	time.Sleep(100 * time.Millisecond)
	c, err := pg.Primary.Connect(ctx(t), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx(t))
	var n int
	if err := c.QueryRow(ctx(t), "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", ApplicationName).Scan(&n); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n < 1 || n > 2 {
		t.Errorf("%d sessions of the exporter during 8 concurrent queries, want 1 or 2", n)
	}
	if st := s.Stat(); st.TotalConns() > 2 {
		t.Errorf("pool holds %d connections, want at most 2", st.TotalConns())
	}
}

func TestValuesAreNormalized(t *testing.T) {
	pg := env.Postgres(t)
	s := newSource(t, pg.Primary.DSN("postgres"), 1)
	rows, err := s.query(ctx(t), `SELECT 1::int2 AS i2, 2::int4 AS i4, 3::int8 AS i8, 1.5::numeric AS num,
		2.5::float4 AS f4, true AS b, 'x'::name AS nm, 'text' AS txt, NULL::int AS nul,
		interval '1 day 2 seconds' AS iv, 42::oid AS o, '127.0.0.1'::inet AS ip,
		timestamptz '2024-01-02 03:04:05+00' AS ts, 'NaN'::numeric AS nan`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"i2": int64(1), "i4": int64(2), "i8": int64(3), "num": 1.5, "f4": 2.5, "b": true, "nm": "x",
		"txt": "text", "nul": nil, "iv": 86402.0, "o": int64(42), "ip": "127.0.0.1",
		"ts": time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
	for i, c := range rows.Columns {
		v := rows.Values[0][i]
		if c == "nan" {
			if f, ok := v.(float64); !ok || f == f {
				t.Errorf("nan = %#v, want a NaN float64", v)
			}
			continue
		}
		if ts, ok := v.(time.Time); ok {
			if !ts.Equal(want[c].(time.Time)) {
				t.Errorf("%s = %v, want %v", c, ts, want[c])
			}
			continue
		}
		if v != want[c] {
			t.Errorf("%s = %#v, want %#v", c, v, want[c])
		}
	}
}

func TestRecoversAfterRestart(t *testing.T) {
	pg := env.Postgres(t)
	s := newSource(t, pg.Primary.DSN("postgres"), 2)
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	pg.Primary.Stop()
	if _, err := s.Probe(ctx(t)); err == nil {
		t.Fatal("probe of a stopped server succeeded")
	}
	if err := pg.Primary.Start(); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitStreaming(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatalf("probe after the restart: %v", err)
	}
	// the same pool keeps working for queries too
	if _, err := s.query(ctx(t), "SELECT 1"); err != nil {
		t.Fatalf("query after the restart: %v", err)
	}
}

func TestDeadServer(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := newSource(t, "postgres://exporter:Hidden-Pw-123@127.0.0.1:"+strconv.Itoa(port)+"/postgres?sslmode=disable", 2)
	_, err = s.Probe(ctx(t))
	if err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
	if strings.Contains(err.Error(), "Hidden-Pw-123") {
		t.Errorf("the error shows the password: %v", err)
	}
}

func TestBadDSN(t *testing.T) {
	_, err := New(Options{DSN: "postgres://u:Hidden-Pw-123@host:notaport/db"})
	if err == nil {
		t.Fatal("a DSN with a bad port was accepted")
	}
	if strings.Contains(err.Error(), "Hidden-Pw-123") {
		t.Errorf("the error shows the password: %v", err)
	}
}
