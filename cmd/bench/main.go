// Command bench is `make bench`: it measures what a scrape costs on a large PostgreSQL catalog
// (10,000 tables, 20,000 indexes, 5,000 pg_stat_statements entries by default) and checks the
// goals of issue 13, exiting 1 when one is missed.
//
// Contestants run interleaved (one scrape each per round, the order rotating): the floor —
// hand-written SQL reading the five statistics views the default packs export from
// (pg_stat_user_tables, pg_statio_user_tables, pg_stat_user_indexes, pg_statio_user_indexes,
// pg_stat_statements), on as many sessions as the exporter keeps (--sessions) —
// persistence_exporter cold (--query.ttl-cap=0s) and warm, and, when their binaries are
// given, postgres_exporter (its defaults, and a comparable queries file) and pg_exporter.
// Each connects as a role of its own, so that pg_stat_statements tells the server's
// execution time and the blocks read per contestant; log_connections counts the sessions
// each opens.
//
// --steady runs the exporters at a scrape interval for a while (10m at 15s in the issue)
// and reports the server's and the exporter's cost per hour.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

type options struct {
	exporter, postgresExporter, pgExporter         string
	runs, adviseRuns, tables, statements, sessions int
	steady, interval                               time.Duration
	hold, fleet                                    bool
}

func main() {
	var o options
	flag.StringVar(&o.exporter, "exporter", "./persistence_exporter", "persistence_exporter binary")
	flag.StringVar(&o.postgresExporter, "postgres-exporter", "/usr/bin/prometheus-postgres-exporter", "postgres_exporter binary to compare with (empty or missing: not measured)")
	flag.StringVar(&o.pgExporter, "pg-exporter", "", "pg_exporter (Vonng) binary to compare with (empty: not measured)")
	flag.IntVar(&o.runs, "runs", 15, "interleaved rounds measured (after one warm-up round)")
	flag.IntVar(&o.adviseRuns, "advise-runs", 7, "advise runs timed (the verdicts take their medians)")
	flag.IntVar(&o.tables, "tables", 10000, "tables of the catalog (each with 2 indexes)")
	flag.IntVar(&o.statements, "statements", 5000, "distinct statements in pg_stat_statements")
	flag.IntVar(&o.sessions, "sessions", 2, "sessions of the floor: the exporter's max_connections")
	flag.DurationVar(&o.steady, "steady", 0, "also run the exporters for this long at --interval and report the cost per hour (0: skip)")
	flag.DurationVar(&o.interval, "interval", 15*time.Second, "scrape interval of --steady")
	flag.BoolVar(&o.fleet, "fleet", false, "instead: one exporter with 1, 10 and 50 PostgreSQL targets plus Redis, and the cost per target (make bench-fleet)")
	flag.BoolVar(&o.hold, "hold", false, "build the catalog, print its DSN and keep the server until interrupted (for profiling by hand)")
	flag.Parse()
	if o.runs < 1 || o.adviseRuns < 1 || o.tables < 1 || o.sessions < 1 {
		fmt.Fprintln(os.Stderr, "bench: --runs, --advise-runs, --tables and --sessions must be at least 1")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	if o.fleet {
		if err := runFleet(ctx, o.exporter, o.runs, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
		return
	}
	missed, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if len(missed) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d goal(s) missed:\n", len(missed))
		for _, m := range missed {
			fmt.Fprintln(os.Stderr, "  -", m)
		}
		os.Exit(1)
	}
}

// run builds the catalog, measures and reports; it returns the goals missed.
func run(ctx context.Context, o options) ([]string, error) {
	if _, err := os.Stat(o.exporter); err != nil {
		return nil, fmt.Errorf("no exporter binary (make build): %w", err)
	}
	logf("starting PostgreSQL")
	pg, err := testenv.StartPostgres(testenv.PGOptions{Conf: []string{
		"pg_stat_statements.max = 20000",
		"max_locks_per_transaction = 1024",
		"shared_buffers = '256MB'",
		"autovacuum = off",     // stable numbers: no background work during the runs
		"log_connections = on", // new sessions per contestant
	}})
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	logf("PostgreSQL %d on 127.0.0.1:%d", pg.Version, pg.Primary.Port)

	c := catalog{db: "bench", tables: o.tables, statements: o.statements}
	if err := prepareRoles(ctx, pg.Primary); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := c.build(ctx, pg.Primary); err != nil {
		return nil, fmt.Errorf("building %s: %w", c.db, err)
	}
	logf("built %s in %.0fs", c.describe(), time.Since(t0).Seconds())
	if o.hold {
		fmt.Printf("%s: %s\n", c.db, pg.Primary.DSN(c.db))
		logf("holding the server; interrupt to stop it")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil, nil
	}
	b, err := newBench(pg, c, o)
	if err != nil {
		return nil, err
	}
	defer b.close()
	return b.measure(ctx)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
