package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// measurement is one configuration's numbers.
type measurement struct {
	name       string
	wall       []time.Duration
	cpu        time.Duration // per scrape
	peakRSS    int64         // bytes; 0 when not a process of ours
	series     int
	statements float64 // per scrape
	note       string
}

type results struct {
	floor, cold, warm, theirs *measurement
	advisor                   *advisorRun
}

// advisorRun is one run of the advisor (the advise command) on the catalog.
type advisorRun struct {
	wall, cpu time.Duration
	peakRSS   int64
	findings  int
	exit      int
}

func measureCatalog(ctx context.Context, pg *testenv.PGCluster, c catalog, exporter, theirs string, runs int) (*results, error) {
	dir, err := os.MkdirTemp("", "pe-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	res := &results{}
	logf("%s: floor (psql)", c.db)
	if res.floor, err = measureFloor(ctx, pg.Primary, c, dir, runs); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`targets:
  postgres:
    - name: bench
      dsn: postgres://%s@127.0.0.1:%d/%s?sslmode=disable
      databases: {include: [%s]}
# the scrapes are measured alone; the advisor is measured apart (advise)
advisor: {enabled: false}
`, roleOurs, pg.Primary.Port, c.db, c.db)), 0o644); err != nil {
		return nil, err
	}
	logf("%s: persistence_exporter, cold", c.db)
	if res.cold, err = measureExporter(ctx, pg.Primary, c.db, "persistence_exporter cold", roleOurs, runs,
		exporter, "--config.file="+cfg, "--query.ttl-cap=0s"); err != nil {
		return nil, fmt.Errorf("cold: %w", err)
	}
	logf("%s: persistence_exporter, warm", c.db)
	if res.warm, err = measureExporter(ctx, pg.Primary, c.db, "persistence_exporter warm", roleOurs, runs,
		exporter, "--config.file="+cfg); err != nil {
		return nil, fmt.Errorf("warm: %w", err)
	}
	logf("%s: persistence_exporter advise (one advisor run)", c.db)
	if res.advisor, err = measureAdvisor(ctx, exporter, cfg); err != nil {
		return nil, fmt.Errorf("advise: %w", err)
	}
	if theirs != "" {
		logf("%s: postgres_exporter", c.db)
		qf := filepath.Join(dir, "queries.yaml")
		if err := os.WriteFile(qf, []byte(comparableQueries), 0o644); err != nil {
			return nil, err
		}
		m, err := measureExporter(ctx, pg.Primary, c.db, "postgres_exporter (Debian)", roleTheirs, runs, theirs,
			"--extend.query-path="+qf)
		if err != nil {
			m = &measurement{name: "postgres_exporter (Debian)", note: "not measured: " + err.Error()}
		} else if out, err := exec.Command(theirs, "--version").CombinedOutput(); err == nil {
			m.name = "postgres_exporter " + strings.Fields(string(out))[2]
		}
		res.theirs = m
	}
	return res, nil
}

// measureAdvisor runs `advise` once: what a run of the advisor costs on its own (in serve
// mode it runs every advisor.interval, 60 s by default, through the same results store as
// the scrapes, so its queries are shared with them within their TTLs).
func measureAdvisor(ctx context.Context, exporter, cfg string) (*advisorRun, error) {
	cmd := exec.CommandContext(ctx, exporter, "advise", "--config.file="+cfg, "--format=json")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := &advisorRun{wall: time.Since(start)}
	if cmd.ProcessState == nil {
		return nil, err
	}
	r.exit = cmd.ProcessState.ExitCode()
	if r.exit > 2 {
		return nil, fmt.Errorf("exit %d: %s", r.exit, errb.String())
	}
	r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.peakRSS = ru.Maxrss << 10
	}
	r.findings = strings.Count(out.String(), `"check":`)
	return r, nil
}

// floorStatements are the statements one cold scrape of persistence_exporter sends: the
// probe, then every default query that fits the server and exports metrics (the scrapes run
// without the advisor, whose own queries 'advise' measures), in the catalog's database.
func floorStatements(ctx context.Context, p *testenv.PGServer, db string) ([]string, error) {
	set, err := queries.DefaultSet(queries.SourceKinds{postgres.Kind(), postgres.PgbouncerKind(), redis.Kind(), elasticsearch.Kind(), pgbackrest.Kind()})
	if err != nil {
		return nil, err
	}
	src, err := postgres.New(postgres.Options{DSN: p.DSN(db), MaxConns: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer src.Close()
	info, err := src.Probe(ctx)
	if err != nil {
		return nil, err
	}
	stmts := []string{postgres.ProbeSQL}
	for _, q := range set.For(queries.SourcePostgres) {
		body, skip, _ := q.Plan(info)
		if skip != "" || !q.Exports() {
			continue
		}
		if q.Scope == queries.ScopeDatabase && len(q.Requires) > 0 {
			ok := true
			for _, r := range q.Requires {
				ok = ok && info.Has(r)
			}
			if !ok {
				continue
			}
		}
		stmts = append(stmts, string(body.(postgres.SQL)))
	}
	return stmts, nil
}

// measureFloor runs the statements runs+1 times in one psql session, as the exporter's pool
// keeps its sessions (a backend's catalog caches are warm after the first run, which is left
// out). A run's time is the sum of psql's \timing of its statements: the server's work and
// the transfer, not psql's formatting.
func measureFloor(ctx context.Context, p *testenv.PGServer, c catalog, dir string, runs int) (*measurement, error) {
	stmts, err := floorStatements(ctx, p, c.db)
	if err != nil {
		return nil, err
	}
	var script strings.Builder
	script.WriteString("\\timing on\n")
	for i := 0; i <= runs; i++ {
		for _, s := range stmts {
			script.WriteString(s + ";\n")
		}
	}
	file := filepath.Join(dir, "floor.sql")
	if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
		return nil, err
	}
	psql := filepath.Join(testenv.DefaultPGBin, "psql")
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-f", file, p.DSN(c.db))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("psql: %w\n%s", err, out)
	}
	var times []time.Duration
	for _, line := range strings.Split(string(out), "\n") {
		ms, ok := strings.CutPrefix(line, "Time: ")
		if !ok {
			continue
		}
		ms, _, _ = strings.Cut(ms, " ms")
		v, err := strconv.ParseFloat(ms, 64)
		if err != nil {
			return nil, fmt.Errorf("psql timing %q: %w", line, err)
		}
		times = append(times, time.Duration(v*float64(time.Millisecond)))
	}
	if len(times) != (runs+1)*len(stmts) {
		return nil, fmt.Errorf("psql printed %d timings for %d statements:\n%s", len(times), (runs+1)*len(stmts), out)
	}
	m := &measurement{name: "floor: psql, same SQL", statements: float64(len(stmts))}
	for i := 1; i <= runs; i++ { // run 0 warms the session
		var sum time.Duration
		for _, d := range times[i*len(stmts) : (i+1)*len(stmts)] {
			sum += d
		}
		m.wall = append(m.wall, sum)
	}
	return m, nil
}

// measureExporter starts an exporter, scrapes it once to warm up, then runs measured scrapes.
func measureExporter(ctx context.Context, p *testenv.PGServer, db, name, role string, runs int, bin string, args ...string) (*measurement, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append(args, "--web.listen-address="+addr)...)
	// postgres_exporter reads its DSN from the environment; ours ignores it
	cmd.Env = append(os.Environ(), fmt.Sprintf("DATA_SOURCE_NAME=postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, p.Port, db))
	logFile, err := os.CreateTemp("", "pe-bench-exporter-*.log")
	if err != nil {
		return nil, err
	}
	defer os.Remove(logFile.Name())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	url := "http://" + addr + "/metrics"
	if err := waitHTTP(ctx, url); err != nil {
		b, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	m := &measurement{name: name}
	if _, _, err := scrape(url); err != nil { // warm-up: connections, caches
		return nil, err
	}
	// the exporter's CPU time and the statements its role has sent, before and after
	counters := func() (time.Duration, int64, error) {
		cpu, err := cpuTime(cmd.Process.Pid)
		if err != nil {
			return 0, 0, err
		}
		calls, err := statementsBy(ctx, p, role)
		return cpu, calls, err
	}
	cpu0, calls0, err := counters()
	if err != nil {
		return nil, err
	}
	for range runs {
		d, series, err := scrape(url)
		if err != nil {
			return nil, err
		}
		m.wall = append(m.wall, d)
		m.series = series
	}
	cpu1, calls1, err := counters()
	if err != nil {
		return nil, err
	}
	m.cpu = (cpu1 - cpu0) / time.Duration(runs)
	m.statements = float64(calls1-calls0) / float64(runs)
	m.peakRSS, _ = peakRSS(cmd.Process.Pid)
	return m, nil
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer", url)
}

// scrape fetches url as Prometheus would, and counts the samples.
func scrape(url string) (time.Duration, int, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "60")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	series := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" && l[0] != '#' {
			series++
		}
	}
	d := time.Since(t0)
	if resp.StatusCode != 200 {
		return d, series, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return d, series, sc.Err()
}

// statementsBy sums the calls pg_stat_statements counted for a role (the statement reading
// it is counted too, and taken off).
func statementsBy(ctx context.Context, p *testenv.PGServer, role string) (int64, error) {
	c, err := p.Connect(ctx, "postgres")
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, `SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1`, role).Scan(&n)
	return n, err
}

// cpuTime is the user+system CPU time of a process, from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// fields after the command name, which is in parentheses and may hold spaces
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}

// peakRSS is the process's high-water resident set size (VmHWM).
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

func stats(ds []time.Duration) (median, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[0], s[len(s)-1]
}

func report(w io.Writer, c catalog, r *results) {
	fmt.Fprintf(w, "\n%s\n", c.describe())
	fmt.Fprintf(w, "  %-30s %9s %9s %9s %11s %10s %8s %11s\n", "", "median", "min", "max", "CPU/scrape", "peak RSS", "series", "statements")
	row := func(m *measurement) {
		if m == nil {
			return
		}
		if m.note != "" {
			fmt.Fprintf(w, "  %-30s %s\n", m.name, m.note)
			return
		}
		med, lo, hi := stats(m.wall)
		cpu, rss, series := "-", "-", "-"
		if m.cpu > 0 || m.peakRSS > 0 {
			cpu = fmt.Sprintf("%.3fs", m.cpu.Seconds())
			rss = fmt.Sprintf("%.0f MiB", float64(m.peakRSS)/(1<<20))
			series = strconv.Itoa(m.series)
		}
		fmt.Fprintf(w, "  %-30s %8.3fs %8.3fs %8.3fs %11s %10s %8s %11.1f\n", m.name,
			med.Seconds(), lo.Seconds(), hi.Seconds(), cpu, rss, series, m.statements)
	}
	row(r.floor)
	row(r.cold)
	row(r.warm)
	row(r.theirs)
	if a := r.advisor; a != nil {
		fmt.Fprintf(w, "  %-30s %8.3fs %29s %10s %8s   %d findings, exit %d\n", "advisor, one run (advise)",
			a.wall.Seconds(), fmt.Sprintf("%.3fs", a.cpu.Seconds()), fmt.Sprintf("%.0f MiB", float64(a.peakRSS)/(1<<20)), "", a.findings, a.exit)
	}
	floor, _, _ := stats(r.floor.wall)
	cold, _, _ := stats(r.cold.wall)
	warm, _, _ := stats(r.warm.wall)
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "  goals: cold %.3fs <= 1.5 x floor (%.3fs): %s; cold CPU %.3fs <= 0.3s: %s; peak RSS %.0f MiB <= 100 MiB: %s; warm %.3fs <= 0.050s: %s\n",
		cold.Seconds(), 1.5*floor.Seconds(), verdict(cold <= floor*3/2),
		r.cold.cpu.Seconds(), verdict(r.cold.cpu <= 300*time.Millisecond),
		float64(max(r.cold.peakRSS, r.warm.peakRSS))/(1<<20), verdict(max(r.cold.peakRSS, r.warm.peakRSS) <= 100<<20),
		warm.Seconds(), verdict(warm <= 50*time.Millisecond))
}

// comparableQueries gives postgres_exporter what our default pack reads of tables, indexes
// and statements (its defaults cover databases, activity, locks, bgwriter, replication and
// settings), in its own queries.yaml format.
const comparableQueries = `pg_stat_user_tables:
  query: |
    SELECT current_database() datname, s.schemaname, s.relname, s.seq_scan, s.seq_tup_read,
           s.idx_scan, s.idx_tup_fetch, s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,
           s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
           COALESCE(s.last_vacuum, '1970-01-01Z') AS last_vacuum,
           COALESCE(s.last_autovacuum, '1970-01-01Z') AS last_autovacuum,
           COALESCE(s.last_analyze, '1970-01-01Z') AS last_analyze,
           COALESCE(s.last_autoanalyze, '1970-01-01Z') AS last_autoanalyze,
           s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
           io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
           pg_table_size(s.relid) AS table_bytes, pg_indexes_size(s.relid) AS index_bytes
    FROM pg_stat_user_tables s JOIN pg_statio_user_tables io ON io.relid = s.relid
  metrics:
    - datname: {usage: "LABEL", description: "database"}
    - schemaname: {usage: "LABEL", description: "schema"}
    - relname: {usage: "LABEL", description: "table"}
    - seq_scan: {usage: "COUNTER", description: "seq scans"}
    - seq_tup_read: {usage: "COUNTER", description: "rows read by seq scans"}
    - idx_scan: {usage: "COUNTER", description: "index scans"}
    - idx_tup_fetch: {usage: "COUNTER", description: "rows fetched by index scans"}
    - n_tup_ins: {usage: "COUNTER", description: "inserts"}
    - n_tup_upd: {usage: "COUNTER", description: "updates"}
    - n_tup_del: {usage: "COUNTER", description: "deletes"}
    - n_tup_hot_upd: {usage: "COUNTER", description: "HOT updates"}
    - n_live_tup: {usage: "GAUGE", description: "live rows"}
    - n_dead_tup: {usage: "GAUGE", description: "dead rows"}
    - n_mod_since_analyze: {usage: "GAUGE", description: "changed since analyze"}
    - last_vacuum: {usage: "GAUGE", description: "last vacuum"}
    - last_autovacuum: {usage: "GAUGE", description: "last autovacuum"}
    - last_analyze: {usage: "GAUGE", description: "last analyze"}
    - last_autoanalyze: {usage: "GAUGE", description: "last autoanalyze"}
    - vacuum_count: {usage: "COUNTER", description: "vacuums"}
    - autovacuum_count: {usage: "COUNTER", description: "autovacuums"}
    - analyze_count: {usage: "COUNTER", description: "analyzes"}
    - autoanalyze_count: {usage: "COUNTER", description: "autoanalyzes"}
    - heap_blks_read: {usage: "COUNTER", description: "heap blocks read"}
    - heap_blks_hit: {usage: "COUNTER", description: "heap blocks hit"}
    - idx_blks_read: {usage: "COUNTER", description: "index blocks read"}
    - idx_blks_hit: {usage: "COUNTER", description: "index blocks hit"}
    - table_bytes: {usage: "GAUGE", description: "table size"}
    - index_bytes: {usage: "GAUGE", description: "index size"}
pg_stat_user_indexes:
  query: |
    SELECT current_database() datname, s.schemaname, s.relname, s.indexrelname, s.idx_scan,
           s.idx_tup_read, s.idx_tup_fetch, io.idx_blks_read, io.idx_blks_hit,
           pg_relation_size(s.indexrelid) AS size_bytes
    FROM pg_stat_user_indexes s JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
  metrics:
    - datname: {usage: "LABEL", description: "database"}
    - schemaname: {usage: "LABEL", description: "schema"}
    - relname: {usage: "LABEL", description: "table"}
    - indexrelname: {usage: "LABEL", description: "index"}
    - idx_scan: {usage: "COUNTER", description: "scans"}
    - idx_tup_read: {usage: "COUNTER", description: "entries read"}
    - idx_tup_fetch: {usage: "COUNTER", description: "rows fetched"}
    - idx_blks_read: {usage: "COUNTER", description: "blocks read"}
    - idx_blks_hit: {usage: "COUNTER", description: "blocks hit"}
    - size_bytes: {usage: "GAUGE", description: "size"}
pg_stat_statements:
  query: |
    SELECT s.queryid::text AS queryid, d.datname, r.rolname AS user, s.calls,
           s.total_exec_time / 1000 AS seconds, s.rows, s.shared_blks_hit, s.shared_blks_read,
           s.blk_read_time / 1000 AS read_seconds, s.blk_write_time / 1000 AS write_seconds
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid
    ORDER BY s.total_exec_time DESC LIMIT 100
  metrics:
    - queryid: {usage: "LABEL", description: "query id"}
    - datname: {usage: "LABEL", description: "database"}
    - user: {usage: "LABEL", description: "role"}
    - calls: {usage: "COUNTER", description: "calls"}
    - seconds: {usage: "COUNTER", description: "time"}
    - rows: {usage: "COUNTER", description: "rows"}
    - shared_blks_hit: {usage: "COUNTER", description: "hits"}
    - shared_blks_read: {usage: "COUNTER", description: "reads"}
    - read_seconds: {usage: "COUNTER", description: "read time"}
    - write_seconds: {usage: "COUNTER", description: "write time"}
`
