package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

// The password every test DSN carries. The servers trust 127.0.0.1, so it is sent and
// ignored; it must never show up in anything the exporter writes.
const testPassword = "E2E-Very-Secret-Pw"

type exporter struct {
	url  string
	logs *testenv.SyncBuffer
	adv  *advisor.Runner // nil without PostgreSQL targets; tests run it when they need a report
}

// startExporter wires the exporter from a configuration file as serve does, with a debug
// logger into a buffer, behind an httptest server.
func startExporter(t *testing.T, configFile string) *exporter {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	red := &secret.Redactor{}
	logger := slog.New(red.Handler(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	f := &flags{configFile: configFile, metricsPath: "/metrics", timeoutOffset: 200 * time.Millisecond, defaultTimeout: 5 * time.Second}
	w, err := setup(f, logger, red)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.engine.Close)
	adv := w.servedAdvisor()
	mux, err := buildMux(f, w, adv, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &exporter{url: srv.URL, logs: logs, adv: adv}
}

func (e *exporter) get(t *testing.T, path string, header ...string) string {
	t.Helper()
	return e.getStatus(t, path, http.StatusOK, header...)
}

// probe fetches /probe of target, which must be up (its gauge up is 1) and carry no target
// label, and returns it.
func (e *exporter) probe(t *testing.T, target, up string) string {
	t.Helper()
	probe := e.get(t, "/probe?target="+target)
	if !strings.Contains(probe, "\n"+up+" 1\n") || strings.Contains(probe, "target=") {
		t.Errorf("/probe?target=%s should carry no target label:\n%.2000s", target, probe)
	}
	return probe
}

// getStatus fetches a path with headers (name, value, ...) and wants a status code.
func (e *exporter) getStatus(t *testing.T, path string, status int, header ...string) string {
	t.Helper()
	resp, b := e.send(t, "GET", path, nil, header...)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %s, want %d: %s", path, resp.Status, status, b)
	}
	return string(b)
}

// send sends a request with a body and headers (name, value, ...) and returns the response
// and its body, read to the end.
func (e *exporter) send(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// e2eConfig points at the real primary and replica, a closed port, and loads the seed's
// postgres_exporter block unchanged plus a slow query.
func e2eConfig(t *testing.T) string {
	t.Helper()
	pg := env.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.Primary.Exec(ctx, "postgres", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
		"CREATE TABLE IF NOT EXISTS e2e_table (id int primary key)"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seed := testenv.ReadFile(t, "../../queries/testdata/seed_custom_queries.yaml")
	packs := filepath.Join(dir, "packs")
	if err := os.Mkdir(packs, 0o755); err != nil {
		t.Fatal(err)
	}
	testenv.WriteFile(t, packs, "seed.yml", string(seed))
	testenv.WriteFile(t, packs, "slow.yaml", `queries:
  - name: e2e_slow
    help: Takes longer than any scrape deadline here.
    sql: SELECT 1 AS v FROM pg_sleep(4)
    columns: [{name: v, usage: gauge}]
`)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	replicaDSN := testenv.WriteFile(t, dir, "replica.dsn", fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable\n", testPassword, pg.Replica.Port))
	t.Setenv("E2E_DEAD_DSN", fmt.Sprintf("postgres://exporter:%s@127.0.0.1:%d/temporal?sslmode=disable", testPassword, port))
	return testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
    - name: replica1
      dsn_file: %s
    - name: dead
      dsn_env: E2E_DEAD_DSN
packs: [%s]
`, testPassword, pg.Primary.Port, replicaDSN, packs))
}

func TestEndToEnd(t *testing.T) {
	cfg := e2eConfig(t)
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "2")
	for _, want := range []string{
		`pg_up{target="primary"} 1`,
		`pg_up{target="replica1"} 1`,
		`pg_up{target="dead"} 0`,
		`pg_stat_database_xact_commit{datid="`,
		`pg_stat_user_tables_seq_scan{`,
		`persistence_exporter_build_info{`,
		`process_resident_memory_bytes `,
		// the seed's query as printed fails (no tablename column) ...
		`persistence_exporter_query_errors_total{query="temporal_metrics",target="primary"} 1`,
		// ... and so does the slow one, cut by the 2 s scrape deadline
		`persistence_exporter_query_errors_total{query="e2e_slow",target="primary"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, bad := range []string{testPassword, `e2e_slow_v{`, `target="dead",query`} {
		if strings.Contains(metrics, bad) {
			t.Errorf("/metrics has %q", bad)
		}
	}
	// a real promtool must find nothing wrong
	testenv.CheckMetrics(t, metrics)

	ex.probe(t, "replica1", "pg_up")
	landing := ex.get(t, "/")
	for _, want := range []string{"replica1", "127.0.0.1:", "/metrics"} {
		if !strings.Contains(landing, want) {
			t.Errorf("the landing page lacks %q", want)
		}
	}
	if strings.Contains(landing, testPassword) {
		t.Error("the landing page shows a password")
	}
	// every probe link on the landing page answers
	for _, m := range regexp.MustCompile(`href="(probe\?target=[^"]+)"`).FindAllStringSubmatch(landing, -1) {
		ex.get(t, "/"+html.UnescapeString(m[1]))
	}
	if !strings.Contains(landing, `href="probe?target=primary"`) {
		t.Errorf("no working probe link on the landing page:\n%s", landing)
	}
	logs := ex.logs.String()
	if !strings.Contains(logs, "target is down") || !strings.Contains(logs, "query failed") {
		t.Errorf("the log lacks the dead target and the failed query:\n%s", logs)
	}
	if strings.Contains(logs, testPassword) {
		t.Errorf("the log shows a password:\n%s", logs)
	}
}

func TestProbeUnknownTarget(t *testing.T) {
	ex := startExporter(t, e2eConfig(t))
	resp, err := http.Get(ex.url + "/probe?target=nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status %d, want 404", resp.StatusCode)
	}
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := testenv.WriteFile(t, dir, "good.yml", `targets:
  postgres:
    - name: primary
      dsn: postgres://exporter:`+testPassword+`@10.0.0.1:5432/temporal
`)
	code, out, errOut := runCLI("check-config", "--config.file="+good)
	if code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("good config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	unknown := testenv.WriteFile(t, dir, "unknown.yml", `targets:
  postgres:
    - name: primary
      dsn: postgres://localhost/x
      poolsize: 3
`)
	code, _, errOut = runCLI("check-config", "--config.file="+unknown)
	if want := unknown + `:5: unknown key "poolsize" in targets.postgres[0]`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("unknown key: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}

	pack := testenv.WriteFile(t, dir, "bad-pack.yaml", `queries:
  - name: q
    sql: SELECT 1 AS c
    columns:
      - {name: c, usage: gauge}
      - {name: d, usage: histogram}
`)
	badUsage := testenv.WriteFile(t, dir, "bad-usage.yml", `targets:
  postgres:
    - name: primary
      dsn: postgres://localhost/x
packs: [`+pack+`]
`)
	code, _, errOut = runCLI("check-config", "--config.file="+badUsage)
	if want := pack + `:6: query "q": column "d": unknown usage "histogram"`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("bad usage: exit %d, stderr %q; want 1 and %q", code, errOut, want)
	}

	badDSN := testenv.WriteFile(t, dir, "bad-dsn.yml", `targets:
  postgres:
    - name: primary
      dsn: "postgres://exporter:`+testPassword+`@db:port/temporal"
`)
	code, _, errOut = runCLI("check-config", "--config.file="+badDSN)
	if code != 1 || !strings.Contains(errOut, badDSN+":4:") || strings.Contains(errOut, testPassword) {
		t.Errorf("bad DSN: exit %d, stderr %q; want 1, the line, and no password", code, errOut)
	}

	// a top_n key must name a query whose series it caps: the packs decide, not the file alone
	topN := testenv.WriteFile(t, t.TempDir(), "topn.yml", "targets:\n  postgres:\n    - name: p\n      dsn: postgres://localhost/x\n      top_n:\n        pg_stat_user_tables: 50\n        pg_stat_user_tabels: 10\n")
	code, _, errOut = runCLI("check-config", "--config.file="+topN)
	if code != 1 || !strings.Contains(errOut, topN+`:7: top_n: no PostgreSQL query "pg_stat_user_tabels" caps its series`) || strings.Contains(errOut, `"pg_stat_user_tables" caps`) {
		t.Errorf("top_n of no query: exit %d, stderr %q", code, errOut)
	}

	// serve refuses to start on the same bad file, with the same message
	code, _, errOut = runCLI("--config.file="+unknown, "--web.listen-address=127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, `unknown key "poolsize"`) {
		t.Errorf("serve with a bad config: exit %d, stderr %q", code, errOut)
	}

	if code, _, _ := runCLI("--no-such-flag"); code != 2 {
		t.Errorf("unknown flag: exit %d, want 2", code)
	}
	if code, out, _ := runCLI("--version"); code != 0 || !strings.Contains(out+errOut, "persistence_exporter") {
		t.Errorf("--version: exit %d", code)
	}
}

// TestServeWithWebConfig runs the real serve path: the listener, exporter-toolkit's web
// configuration (basic auth here) and the shutdown on SIGTERM.
func TestServeWithWebConfig(t *testing.T) {
	cfg := e2eConfig(t)
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("web-pass-123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := testenv.WriteFile(t, dir, "web.yml", "basic_auth_users:\n  prometheus: "+string(hash)+"\n")
	if code, out, errOut := runCLI("check-config", "--config.file="+cfg, "--web.config.file="+webCfg); code != 0 {
		t.Fatalf("check-config with a web config: exit %d %s %s", code, out, errOut)
	}
	badWeb := testenv.WriteFile(t, dir, "bad-web.yml", "basic_auth_users: [oops]\n")
	if code, _, errOut := runCLI("check-config", "--config.file="+cfg, "--web.config.file="+badWeb); code != 1 || !strings.Contains(errOut, badWeb) {
		t.Errorf("check-config with a bad web config: exit %d %s", code, errOut)
	}

	addr, done, stderr := serveInBackground(t, "--config.file="+cfg, "--web.config.file="+webCfg)
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get("http://" + addr + "/metrics"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the exporter did not listen: %v\n%s", err, stderr.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %s, want 401", resp.Status)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.SetBasicAuth("prometheus", "web-pass-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `pg_up{target="primary"} 1`) {
		t.Errorf("with credentials: %s\n%.500s", resp.Status, body)
	}
	// SIGHUP (a reload elsewhere) is logged and ignored, not fatal
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && !strings.Contains(stderr.String(), "SIGHUP ignored"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "SIGHUP ignored") {
		t.Errorf("no word on SIGHUP:\n%s", stderr.String())
	}
	select {
	case code := <-done:
		t.Fatalf("serve ended on SIGHUP with %d", code)
	default:
	}
	// serve has its signal handler installed: SIGTERM ends it cleanly
	if !stopServe(t, done, stderr) {
		t.FailNow()
	}
	if strings.Contains(stderr.String(), testPassword) {
		t.Errorf("the log shows a password:\n%s", stderr.String())
	}
}

// poolerAndBackups is the configuration of the pgbouncer target pooler and the pgBackRest
// target backups, under targets:.
func poolerAndBackups(pooler *testenv.Pgbouncer, repo *testenv.Pgbackrest) string {
	return fmt.Sprintf(`  pgbouncer:
    - name: pooler
      dsn: %s
  pgbackrest:
    - name: backups
      stanza: %s
      config: %s
      command: %s
`, pooler.AdminDSN(), repo.Stanza, repo.Config, testenv.PgbackrestBin)
}

// TestPoolerAndBackupTargets wires pgbouncer and pgbackrest targets from a configuration and
// scrapes them with a PostgreSQL target in one /metrics.
func TestPoolerAndBackupTargets(t *testing.T) {
	pg := env.Postgres(t)
	pooler := env.Pgbouncer(t)
	repo := env.Pgbackrest(t)
	cfg := testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
%s`, testPassword, pg.Primary.Port, poolerAndBackups(pooler, repo)))
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics")
	for _, want := range []string{
		`pg_up{target="primary"} 1`,
		`pgbouncer_up{target="pooler"} 1`,
		`pgbackrest_up{target="backups"} 1`,
		`pgbouncer_pools_client_active_connections{database="pgbouncer",target="pooler",user="pgbouncer"}`,
		`pgbackrest_stanza_status{stanza="temporal",target="backups"} 0`,
		`pgbackrest_backup_since_last_completion_seconds{backup_type="full",stanza="temporal",target="backups"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	landing := ex.get(t, "/")
	for _, want := range []string{"pooler", "backups", "stanza temporal"} {
		if !strings.Contains(landing, want) {
			t.Errorf("the landing page lacks %q", want)
		}
	}
}

// serveInBackground runs serve with args on a free loopback port; done receives its exit
// code, stderr holds its log.
func serveInBackground(t *testing.T, args ...string) (addr string, done chan int, stderr *testenv.SyncBuffer) {
	t.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	done, stderr = make(chan int, 1), &testenv.SyncBuffer{}
	go func() {
		done <- run(append(args, "--web.listen-address="+addr), io.Discard, stderr)
	}()
	return addr, done, stderr
}

// stopServe sends the test process SIGTERM, which the serve started by serveInBackground
// handles, and waits for serve to end, with exit code 0; false when the signal could not be
// sent or serve did not end.
func stopServe(t *testing.T, done chan int, stderr *testenv.SyncBuffer) bool {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Error(err)
		return false
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after SIGTERM\n%s", code, stderr.String())
		}
		return true
	case <-time.After(10 * time.Second):
		t.Error("serve did not stop on SIGTERM")
		return false
	}
}
