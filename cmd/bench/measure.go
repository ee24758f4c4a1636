package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// sample is one scrape of one contestant.
type sample struct {
	wall   time.Duration
	series int
	errors float64 // persistence_exporter_query_errors_total, summed; -1 when not exported
}

// usage is what a contestant has cost so far: its process's CPU, and the server's work for
// its role.
type usage struct {
	cpu      time.Duration
	execTime time.Duration // pg_stat_statements total_exec_time
	blksRead int64         // shared_blks_read
	calls    int64
	sessions int // connections authorized for its role (log_connections)
}

func (u usage) sub(v usage) usage {
	return usage{u.cpu - v.cpu, u.execTime - v.execTime, u.blksRead - v.blksRead, u.calls - v.calls, u.sessions - v.sessions}
}

// contestant is one thing the rounds measure.
type contestant struct {
	name    string
	role    string
	scrape  func(ctx context.Context) (sample, error)
	proc    *exec.Cmd // nil for the floor, whose client is this process
	samples []sample
	cost    usage // over the measured rounds
	stop    func()
}

type bench struct {
	pg      *testenv.PGCluster
	cat     catalog
	o       options
	dir     string
	logFile string
}

func newBench(pg *testenv.PGCluster, c catalog, o options) (*bench, error) {
	dir, err := os.MkdirTemp("", "pe-bench-")
	if err != nil {
		return nil, err
	}
	return &bench{pg: pg, cat: c, o: o, dir: dir, logFile: filepath.Join(pg.Dir, "primary.log")}, nil
}

func (b *bench) close() { os.RemoveAll(b.dir) }

// measure runs the interleaved rounds, advise and, when asked, the steady state; it prints
// the tables and the goals' verdicts and returns the goals missed.
func (b *bench) measure(ctx context.Context) ([]string, error) {
	floor, err := b.floor(ctx)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	all := []*contestant{floor}
	defer func() {
		for _, c := range all {
			if c.stop != nil {
				c.stop()
			}
		}
	}()
	var notes []string
	add := func(name, role, bin string, args ...string) *contestant {
		if bin == "" {
			notes = append(notes, name+": not measured (no binary given)")
			return nil
		}
		if _, err := os.Stat(bin); err != nil {
			notes = append(notes, fmt.Sprintf("%s: not measured (%v)", name, err))
			return nil
		}
		c, err := b.start(ctx, name, role, bin, args...)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: not measured: %v", name, err))
			return nil
		}
		all = append(all, c)
		return c
	}
	cold := add("persistence_exporter cold", roleCold, b.o.exporter, "--config.file="+b.config(roleCold, false), "--query.ttl-cap=0s")
	warm := add("persistence_exporter warm", roleWarm, b.o.exporter, "--config.file="+b.config(roleWarm, false))
	if cold == nil || warm == nil {
		return nil, fmt.Errorf("persistence_exporter did not start: %s", strings.Join(notes, "; "))
	}
	add("postgres_exporter, defaults", rolePGEDefault, b.o.postgresExporter)
	add("postgres_exporter, comparable", rolePGEComparable, b.o.postgresExporter,
		"--extend.query-path="+b.write("queries-cold.yaml", comparableQueries(false)))
	pgx := add("pg_exporter, cache off", rolePGX, b.o.pgExporter, "--disable-cache")

	logf("%d interleaved rounds (and one warm-up) of %d contestants", b.o.runs, len(all))
	if err := b.rounds(ctx, all, b.o.runs); err != nil {
		return nil, err
	}
	adv, err := b.advise(ctx, b.o.adviseRuns)
	if err != nil {
		return nil, fmt.Errorf("advise: %w", err)
	}
	var steady []steadyResult
	if b.o.steady > 0 {
		for _, c := range all {
			if c.stop != nil {
				c.stop()
				c.stop = nil
			}
		}
		if steady, err = b.steadyState(ctx); err != nil {
			return nil, fmt.Errorf("steady: %w", err)
		}
	}
	w := os.Stdout
	fmt.Fprintf(w, "\n%s, PostgreSQL %d, %d rounds\n", b.cat.describe(), b.pg.Version/10000, b.o.runs)
	report(w, all, floor)
	wq1, wm, wq3 := adv.wall()
	cq1, cm, cq3 := adv.cpu()
	fmt.Fprintf(w, "  %-34s %8.3fs wall (IQR %.3f–%.3f), %.3f CPU-s (IQR %.3f–%.3f), %d findings (exit %d)\n",
		fmt.Sprintf("advise (median of %d runs)", len(adv.walls)), wm.Seconds(), wq1.Seconds(), wq3.Seconds(),
		cm.Seconds(), cq1.Seconds(), cq3.Seconds(), adv.findings, adv.exit)
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
	if len(steady) > 0 {
		reportSteady(w, steady, b.o)
	}
	return goals(w, floor, cold, warm, pgx, adv, steady, b.o), nil
}

// config writes a config for role: one target, the catalog's database.
func (b *bench) config(role string, advisor bool) string {
	text := fmt.Sprintf(`targets:
  postgres:
    - name: bench
      dsn: postgres://%s@127.0.0.1:%d/%s?sslmode=disable
      databases: {include: [%s]}
`, role, b.pg.Primary.Port, b.cat.db, b.cat.db)
	if !advisor {
		text += "advisor: {enabled: false}\n"
	}
	return b.write(role+".yml", text)
}

func (b *bench) write(name, text string) string {
	file := filepath.Join(b.dir, name)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		panic(err) // our own temp dir
	}
	return file
}

func (b *bench) dsn(role string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, b.pg.Primary.Port, b.cat.db)
}

// rounds runs one warm-up round, then n measured ones; each round scrapes every contestant
// once, starting one further along each time, so that none always follows the same one.
func (b *bench) rounds(ctx context.Context, all []*contestant, n int) error {
	before := make([]usage, len(all))
	for r := 0; r <= n; r++ {
		if r == 1 {
			for i, c := range all {
				u, err := b.usage(ctx, c)
				if err != nil {
					return err
				}
				before[i] = u
			}
		}
		for k := range all {
			c := all[(r+k)%len(all)]
			s, err := c.scrape(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if r > 0 {
				c.samples = append(c.samples, s)
			}
		}
	}
	for i, c := range all {
		u, err := b.usage(ctx, c)
		if err != nil {
			return err
		}
		c.cost = u.sub(before[i])
		logf("%s: %d sessions opened in all, %d during the measured rounds", c.name, u.sessions, c.cost.sessions)
	}
	return nil
}

// usage reads a contestant's counters.
func (b *bench) usage(ctx context.Context, c *contestant) (usage, error) {
	var u usage
	if c.proc != nil {
		cpu, err := cpuTime(c.proc.Process.Pid)
		if err != nil {
			return u, err
		}
		u.cpu = cpu
	}
	conn, err := b.pg.Primary.Connect(ctx, "postgres")
	if err != nil {
		return u, err
	}
	defer conn.Close(ctx)
	var ms float64
	err = conn.QueryRow(ctx, `SELECT coalesce(sum(s.total_exec_time), 0)::float8, coalesce(sum(s.shared_blks_read), 0)::bigint,
       coalesce(sum(s.calls), 0)::bigint
FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1`, c.role).Scan(&ms, &u.blksRead, &u.calls)
	if err != nil {
		return u, err
	}
	u.execTime = time.Duration(ms * float64(time.Millisecond))
	u.sessions, err = sessions(b.logFile, c.role)
	return u, err
}

// sessions counts the connections the server authorized for role, from its log.
func sessions(logFile, role string) (int, error) {
	f, err := os.Open(logFile)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	needle := "connection authorized: user=" + role + " "
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), needle) {
			n++
		}
	}
	return n, sc.Err()
}

// floorStatements read the five statistics views the default packs export from: the rows
// and columns those packs turn into metrics, written by hand, nothing else.
var floorStatements = []string{
	`SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch, n_tup_ins, n_tup_upd,
       n_tup_del, n_tup_hot_upd, n_live_tup, n_dead_tup, n_mod_since_analyze, last_vacuum,
       last_autovacuum, last_analyze, last_autoanalyze, vacuum_count, autovacuum_count,
       analyze_count, autoanalyze_count
FROM pg_stat_user_tables`,
	`SELECT schemaname, relname, heap_blks_read, heap_blks_hit, idx_blks_read, idx_blks_hit
FROM pg_statio_user_tables`,
	`SELECT schemaname, relname, indexrelname, idx_scan, idx_tup_read, idx_tup_fetch FROM pg_stat_user_indexes`,
	`SELECT schemaname, relname, indexrelname, idx_blks_read, idx_blks_hit FROM pg_statio_user_indexes`,
	`SELECT userid, dbid, queryid, calls, total_exec_time, rows, shared_blks_hit, shared_blks_read
FROM pg_stat_statements(false)`,
}

// floor is the minimum work for what is exported: floorStatements on o.sessions sessions kept
// open (as the exporter keeps its pool), spread over them and run at once.
func (b *bench) floor(ctx context.Context) (*contestant, error) {
	conns := make([]*pgx.Conn, b.o.sessions)
	for i := range conns {
		c, err := pgx.Connect(ctx, b.dsn(roleFloor))
		if err != nil {
			return nil, err
		}
		conns[i] = c
	}
	c := &contestant{name: fmt.Sprintf("floor: 5 views, %d sessions", len(conns)), role: roleFloor}
	c.stop = func() {
		for _, conn := range conns {
			conn.Close(context.Background())
		}
	}
	c.scrape = func(ctx context.Context) (sample, error) {
		t0 := time.Now()
		errs := make(chan error, len(conns))
		rows := make(chan int, len(conns))
		for i, conn := range conns {
			go func() {
				n := 0
				for k := i; k < len(floorStatements); k += len(conns) {
					r, err := conn.Query(ctx, floorStatements[k], pgx.QueryExecModeSimpleProtocol)
					if err != nil {
						errs <- err
						return
					}
					for r.Next() {
						n++
					}
					r.Close()
					if err := r.Err(); err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
				rows <- n
			}()
		}
		s := sample{errors: -1}
		for range conns {
			if err := <-errs; err != nil {
				return s, err
			}
			s.series += <-rows
		}
		s.wall = time.Since(t0)
		return s, nil
	}
	return c, nil
}

// start runs an exporter connecting as role and waits until it answers.
func (b *bench) start(ctx context.Context, name, role, bin string, args ...string) (*contestant, error) {
	port, err := testenv.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, append(args, "--web.listen-address="+addr)...)
	// postgres_exporter and pg_exporter read their DSN from the environment; ours ignores it
	cmd.Env = append(os.Environ(), "DATA_SOURCE_NAME="+b.dsn(role), "PG_EXPORTER_URL="+b.dsn(role))
	logFile := filepath.Join(b.dir, role+".log")
	out, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		out.Close()
	}
	url := "http://" + addr + "/metrics"
	if err := waitHTTP(ctx, url); err != nil {
		stop()
		log, _ := os.ReadFile(logFile)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return &contestant{name: name, role: role, proc: cmd, stop: stop,
		scrape: func(context.Context) (sample, error) { return scrape(url) }}, nil
}

func waitHTTP(ctx context.Context, url string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond) // polling a process we started, not ordering goroutines
	}
	return fmt.Errorf("%s did not answer", url)
}

// queryErrors is our self-metric of failed queries: unchanged over the rounds means every
// scrape was complete.
const queryErrors = "persistence_exporter_query_errors_total"

// scrape fetches url as Prometheus would, and counts the samples.
func scrape(url string) (sample, error) {
	s := sample{errors: -1}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return s, err
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "60")
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		s.series++
		if strings.HasPrefix(l, queryErrors+"{") || strings.HasPrefix(l, queryErrors+" ") {
			v, err := strconv.ParseFloat(l[strings.LastIndexByte(l, ' ')+1:], 64)
			if err != nil {
				return s, fmt.Errorf("%s: %q: %w", url, l, err)
			}
			s.errors = max(s.errors, 0) + v
		}
	}
	s.wall = time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return s, sc.Err()
}

// advisorRun is what runs of the advisor (the advise command) on the catalog cost: every
// run's wall and CPU time, and the last run's findings and exit code.
type advisorRun struct {
	walls, cpus []time.Duration
	findings    int
	exit        int
}

// wall and cpu are the medians with their quartiles.
func (a *advisorRun) wall() (q1, median, q3 time.Duration) { return quartiles(a.walls) }
func (a *advisorRun) cpu() (q1, median, q3 time.Duration)  { return quartiles(a.cpus) }

// advise runs `advise` n times, one after the other, with the advisor on: what a run costs on
// its own, each a new process with new sessions.
func (b *bench) advise(ctx context.Context, n int) (*advisorRun, error) {
	r := &advisorRun{}
	for range n {
		cmd := exec.CommandContext(ctx, b.o.exporter, "advise", "--config.file="+b.config(roleAdvise, true), "--format=json")
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		start := time.Now()
		err := cmd.Run()
		wall := time.Since(start)
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			return nil, err
		}
		r.exit = cmd.ProcessState.ExitCode()
		if r.exit > 2 { // 1 and 2: findings of warning and critical severity
			return nil, fmt.Errorf("exit %d: %s", r.exit, errb.String())
		}
		r.walls = append(r.walls, wall)
		r.cpus = append(r.cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		r.findings = strings.Count(out.String(), `"check":`)
	}
	return r, nil
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
