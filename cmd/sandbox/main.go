// Command sandbox is `make demo`: in a temporary directory it starts the seed deployment in
// small — a PostgreSQL primary and streaming replica with the Temporal schema, archiving into
// a pgBackRest repository, pgbouncer in front, a Redis primary, replica and sentinel with keys
// in the three cache namespaces — runs a Temporal-like workload on them, runs
// persistence_exporter against all of it and a real Prometheus with the alert rules against
// the exporter, prints where to look and the advisor's summary, and on Ctrl-C stops
// everything it started and removes what it wrote. Elasticsearch cannot run here: unless
// ES_URL names a real cluster, the exporter watches a replay of the project's Elasticsearch
// test fixtures (target visibility-replay), so that its dashboard has data.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// options are the sandbox's flags.
type options struct {
	exporter string // the exporter binary
	listen   string // where the exporter listens
	seedDir  string // schema.sql, cron.sql
	alerts   string // directory of the alert rules Prometheus loads
	check    bool   // start, check, stop (for tests)
	esURL    string // a real Elasticsearch to watch too (ES_URL)
	esReplay string // Elasticsearch fixtures (answers) to replay when there is no ES_URL
	// inspect, in check mode, runs with Prometheus' URL once Prometheus scrapes the
	// exporter, before everything stops (tests look at what Prometheus has).
	inspect func(ctx context.Context, prometheus string) error
}

// replayTarget is the name of the Elasticsearch target that replays the fixtures.
const replayTarget = "visibility-replay"

// elasticsearch is the Elasticsearch target of the sandbox: a real cluster (ES_URL) or the
// replay of the fixtures.
type elasticsearch struct {
	name, url string
	replay    bool
}

func main() {
	var o options
	flag.StringVar(&o.exporter, "exporter", "./persistence_exporter", "the exporter binary")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:9863", "where the exporter listens (a free port is taken when this one is busy)")
	flag.StringVar(&o.seedDir, "seed", "testdata/seed", "directory of the seed schema (schema.sql, cron.sql)")
	flag.StringVar(&o.alerts, "alerts", "alerts", "directory of the Prometheus alert rules (*.yml)")
	flag.StringVar(&o.esReplay, "es-replay", "testdata/elasticsearch/8.13", "directory of Elasticsearch answers (test fixtures) replayed as target "+replayTarget+" when ES_URL is not set")
	flag.BoolVar(&o.check, "check", false, "start everything, check that every target scrapes, stop, and exit (for tests)")
	flag.Parse()
	o.esURL = os.Getenv("ES_URL")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "[sandbox %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// cleanup runs what was started, in reverse, when the sandbox ends.
type cleanup []func()

func (c *cleanup) add(f func()) { *c = append(*c, f) }

func (c cleanup) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

func run(ctx context.Context, out io.Writer, o options) (err error) {
	if _, err := os.Stat(o.exporter); err != nil {
		return fmt.Errorf("no exporter binary at %s (make build): %w", o.exporter, err)
	}
	var done cleanup
	defer func() { done.run() }()
	t0 := time.Now()

	dir, err := os.MkdirTemp("", "pe-demo-")
	if err != nil {
		return err
	}
	done.add(func() {
		say(out, "removing %s", dir)
		_ = os.RemoveAll(dir)
	})

	say(out, "starting PostgreSQL primary and streaming replica, archiving into pgBackRest (full, diff and incremental backups) ...")
	repo, err := testenv.StartPgbackrest(testenv.PGOptions{Replica: true})
	if err != nil {
		return err
	}
	pg := repo.PG
	done.add(func() {
		say(out, "stopping PostgreSQL and pgBackRest, removing %s and %s", pg.Dir, repo.Dir)
		repo.Stop()
	})
	say(out, "PostgreSQL %d up in %.1fs: primary 127.0.0.1:%d, replica 127.0.0.1:%d (data in %s)",
		pg.Version, time.Since(t0).Seconds(), pg.Primary.Port, pg.Replica.Port, pg.Dir)
	if err := loadSeed(ctx, pg, o.seedDir); err != nil {
		return err
	}
	say(out, "loaded the seed's Temporal schema and %d visibility rows into database \"temporal\"", seedRows)

	pooler, err := testenv.StartPgbouncer(pg.Primary)
	if err != nil {
		return err
	}
	done.add(func() {
		say(out, "stopping pgbouncer")
		pooler.Stop()
	})

	say(out, "starting Redis primary, replica and sentinel ...")
	rs, err := testenv.StartRedis(testenv.RedisOptions{Seed: true}) // the seed's two replicas and three sentinels
	if err != nil {
		return err
	}
	done.add(func() {
		say(out, "stopping Redis and removing %s", rs.Dir)
		rs.Stop()
	})
	if err := fillCaches(ctx, rs); err != nil {
		return err
	}
	say(out, "Redis %d up: primary %s, replicas %s %s, sentinels %s; keys in session:, wf_meta:, tq_info:",
		rs.Version, rs.Primary.Addr(), rs.Replica.Addr(), rs.MoreReplicas[0].Addr(), strings.Join(sentinelAddrs(rs), " "))
	if ctx.Err() != nil {
		return nil
	}

	es := elasticsearch{name: "visibility", url: o.esURL}
	if o.esURL == "" {
		replay, err := estest.Start(o.esReplay, false, estest.Live(time.Now))
		if err != nil {
			return err
		}
		done.add(func() {
			say(out, "stopping the Elasticsearch replay")
			replay.Close()
		})
		es = elasticsearch{name: replayTarget, url: replay.URL, replay: true}
		say(out, "no ES_URL: replaying the Elasticsearch test fixtures of %s at %s as target %q (not a live cluster)", o.esReplay, replay.URL, replayTarget)
	}

	wctx, stopWorkload := context.WithCancel(ctx)
	workloadDone := make(chan struct{})
	go func() {
		defer close(workloadDone)
		workload(wctx, pg, pooler, rs)
	}()
	done.add(func() {
		stopWorkload()
		<-workloadDone
	})
	say(out, "running a Temporal-like workload: executions written and updated through pgbouncer, visibility rows, reads on the replica, a slow report now and then, cache traffic with a slow command now and then")

	cfg, err := writeConfig(dir, es, pg, pooler, repo, rs)
	if err != nil {
		return err
	}
	addr, err := pickAddress(o.listen)
	if err != nil {
		return err
	}
	logFile := filepath.Join(dir, "exporter.log")
	stopExporter, err := startProcess(logFile, o.exporter, "--config.file="+cfg, "--web.listen-address="+addr)
	if err != nil {
		return err
	}
	done.add(func() {
		say(out, "stopping the exporter")
		stopExporter()
	})
	url := "http://" + addr
	if err := waitScrape(ctx, url+"/metrics", logFile, append(wantUp, `elasticsearch_up{target="`+es.name+`"} 1`)); err != nil {
		return err
	}

	prom, stopProm, err := startPrometheus(ctx, dir, addr, o.alerts, o.check)
	if err != nil {
		return err
	}
	done.add(func() {
		say(out, "stopping Prometheus")
		stopProm()
	})

	summary, err := advisorSummary(ctx, url)
	if err != nil {
		return err
	}
	say(out, "ready in %.1fs", time.Since(t0).Seconds())
	fmt.Fprintf(out, `
  exporter metrics   %[1]s/metrics
  advisor            %[1]s/advisor   (JSON: %[1]s/advisor.json)
  one target         %[1]s/probe?target=replica1
  Prometheus         %[2]s   (alerts: %[2]s/alerts, rules from %[3]s)
  dashboards         dashboards/*.json: import them into a Grafana with this Prometheus as datasource
  configuration      %[4]s
  logs               %[5]s, %[6]s
  PostgreSQL         psql "%[7]s"   (replica: port %[8]d, pgbouncer: port %[9]d)
  Redis              REDISCLI_AUTH=$(cat %[11]s) redis-cli -p %[10]d   (replica: port %[12]d, sentinel: port %[13]d)
`, url, prom, o.alerts, cfg, logFile, filepath.Join(dir, "prometheus.log"), pg.Primary.DSN("temporal"),
		pg.Replica.Port, pooler.Port, rs.Primary.Port, redisPasswordFile(dir), rs.Replica.Port, rs.Sentinel.Port)
	if !es.replay {
		fmt.Fprintf(out, "  Elasticsearch      %s (ES_URL) is watched as target %q\n", redactURL(o.esURL), es.name)
	} else {
		fmt.Fprintf(out, `  Elasticsearch      A REPLAY, NOT A LIVE CLUSTER: Elasticsearch cannot run here, so target
                     %[1]q serves the tests' fixtures (%[2]s: made-up values
                     in Elasticsearch's answer shapes, a cluster in an incident: red, a data node
                     gone, a disk past the high watermark, an ILM step in error, no snapshot for
                     3 days, an index near its field limit). The recording's moment is the
                     sandbox's start, counters go on at their average rates; its findings are
                     the fixtures'. ES_URL=https://user:password@host:9200 watches a real cluster.
`, es.name, o.esReplay)
	}
	fmt.Fprintf(out, "\nThe advisor's first report:\n%s\n", summary)
	if o.check {
		if err := checkPrometheus(ctx, out, prom); err != nil || o.inspect == nil {
			return err
		}
		return o.inspect(ctx, prom)
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop everything.")
	<-ctx.Done()
	return nil
}

// wantUp are the up series the sandbox waits for.
var wantUp = []string{
	`pg_up{target="primary"} 1`, `pg_up{target="replica1"} 1`, `pgbouncer_up{target="pgbouncer"} 1`,
	`pgbackrest_up{target="backups"} 1`, `redis_up{target="redis-primary"} 1`, `redis_up{target="redis-replica"} 1`,
	`redis_up{target="sentinel"} 1`, `redis_up{target="cache"} 1`,
}

// writeConfig writes the exporter's configuration: every server of the sandbox, and
// Elasticsearch (ES_URL or the replay).
func writeConfig(dir string, es elasticsearch, pg *testenv.PGCluster, pooler *testenv.Pgbouncer, repo *testenv.Pgbackrest, rs *testenv.RedisSet) (string, error) {
	cfg := fmt.Sprintf(`# written by make demo
targets:
  postgres:
    - name: primary
      dsn: %s
      cluster: temporal
    - name: replica1
      dsn: %s
      cluster: temporal
  pgbouncer:
    - name: pgbouncer
      dsn: %s
  pgbackrest:
    - name: backups
      stanza: %s
      config: %s
      command: `+testenv.PgbackrestBin+`
  redis:
    - name: redis-primary
      addr: %[6]s
      password_file: %[7]s
    - name: redis-replica
      addr: %[8]s
      password_file: %[7]s
    - name: sentinel
      addr: %[9]s
      password_file: %[10]s
    - name: cache
      sentinel_master: %[11]s
      sentinels: [%[12]s]
      password_file: %[7]s
      sentinel_password_file: %[10]s
`, pg.Primary.DSN("temporal"), pg.Replica.DSN("temporal"), pooler.AdminDSN(), repo.Stanza, repo.Config,
		rs.Primary.Addr(), redisPasswordFile(dir), rs.Replica.Addr(), rs.Sentinel.Addr(), sentinelPasswordFile(dir), testenv.RedisMasterName,
		strings.Join(sentinelAddrs(rs), ", "))
	cfg += "  elasticsearch:\n    - name: " + es.name + "\n      urls: [" + es.url + "]\n"
	if es.replay {
		// the SLM policy and the repository of the fixtures, so that the snapshot panels show
		cfg += "      slm_policies: [nightly-snapshots]\n      snapshot_repositories: [temporal-backups]\n"
	}
	cfg += `advisor:
  interval: 30s
`
	for file, pw := range map[string]string{redisPasswordFile(dir): testenv.RedisPassword, sentinelPasswordFile(dir): testenv.RedisSentinelPassword} {
		if err := os.WriteFile(file, []byte(pw+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	file := filepath.Join(dir, "persistence_exporter.yml")
	return file, os.WriteFile(file, []byte(cfg), 0o600)
}

func redisPasswordFile(dir string) string    { return filepath.Join(dir, "redis.password") }
func sentinelPasswordFile(dir string) string { return filepath.Join(dir, "sentinel.password") }

// redactURL drops the password of a URL for printing.
func redactURL(u string) string {
	if i, j := strings.Index(u, "://"), strings.LastIndex(u, "@"); i >= 0 && j > i {
		return u[:i+3] + "…@" + u[j+1:]
	}
	return u
}

// pickAddress keeps the wanted address when it is free, else takes a free port.
func pickAddress(want string) (string, error) {
	if l, err := net.Listen("tcp", want); err == nil {
		l.Close()
		return want, nil
	}
	port, err := testenv.FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// startProcess starts a program in its own process group (Ctrl-C reaches the sandbox, which
// stops it in order) with its output in logFile, and returns how to stop it.
func startProcess(logFile, bin string, args ...string) (stop func(), err error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(exited)
	}()
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}, nil
}

// errStopped is returned when Ctrl-C arrives while waiting.
var errStopped = errors.New("stopped")

// sentinelAddrs are the addresses of the sandbox's sentinels.
func sentinelAddrs(rs *testenv.RedisSet) []string {
	out := []string{rs.Sentinel.Addr()}
	for _, s := range rs.MoreSentinels {
		out = append(out, s.Addr())
	}
	return out
}
