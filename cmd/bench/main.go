// Command bench is `make bench`: it measures what a scrape costs on a large PostgreSQL catalog
// (10,000 tables, 20,000 indexes, 5,000 pg_stat_statements entries) and a small one (100
// tables), in one run and on one server: persistence_exporter's cold scrape (every query
// runs) and warm scrape (within the TTLs), PostgreSQL alone running the same SQL from psql
// (the floor), and Debian's prometheus-postgres-exporter with a comparable queries file.
//
// It prints median, min and max wall time per scrape, exporter CPU per scrape, peak RSS,
// series and SQL statements per scrape. It is a benchmark, not a test: it asserts nothing
// and exits 0 unless something could not be measured.
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

func main() {
	exporter := flag.String("exporter", "./persistence_exporter", "persistence_exporter binary")
	theirs := flag.String("postgres-exporter", "/usr/bin/prometheus-postgres-exporter", "postgres_exporter binary to compare with (empty: skip)")
	runs := flag.Int("runs", 7, "scrapes measured per configuration")
	tables := flag.Int("tables", 10000, "tables of the large catalog (each with 2 indexes)")
	statements := flag.Int("statements", 5000, "distinct statements in pg_stat_statements")
	fleet := flag.Bool("fleet", false, "instead: one exporter with 1, 10 and 50 PostgreSQL targets plus Redis, and the cost per target (make bench-fleet)")
	hold := flag.Bool("hold", false, "build the catalogs, print their DSNs and keep the server until interrupted (for profiling by hand)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if *fleet {
		if err := runFleet(ctx, *exporter, *runs, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *exporter, *theirs, *runs, *tables, *statements, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, exporter, theirs string, runs, tables, statements int, hold bool) error {
	if _, err := os.Stat(exporter); err != nil {
		return fmt.Errorf("no exporter binary (make build): %w", err)
	}
	logf("starting PostgreSQL")
	pg, err := testenv.StartPostgres(testenv.PGOptions{Conf: []string{
		"pg_stat_statements.max = 20000",
		"max_locks_per_transaction = 1024",
		"shared_buffers = '256MB'",
		"autovacuum = off", // stable numbers: no background work during the runs
	}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	logf("PostgreSQL %d on 127.0.0.1:%d", pg.Version, pg.Primary.Port)

	cats := []catalog{
		{db: "bench_large", tables: tables, statements: statements},
		{db: "bench_small", tables: 100, statements: 100},
	}
	if err := prepareRoles(ctx, pg.Primary); err != nil {
		return err
	}
	for _, c := range cats {
		t0 := time.Now()
		if err := c.build(ctx, pg.Primary); err != nil {
			return fmt.Errorf("building %s: %w", c.db, err)
		}
		logf("built %s in %.0fs", c.describe(), time.Since(t0).Seconds())
	}
	if hold {
		for _, c := range cats {
			fmt.Printf("%s: %s (roles %s, %s)\n", c.db, pg.Primary.DSN(c.db), roleOurs, roleTheirs)
		}
		logf("holding the server; interrupt to stop it")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	for _, c := range cats {
		res, err := measureCatalog(ctx, pg, c, exporter, theirs, runs)
		if err != nil {
			return fmt.Errorf("%s: %w", c.db, err)
		}
		report(os.Stdout, c, res)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
