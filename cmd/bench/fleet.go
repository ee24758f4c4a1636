package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// fleetSizes are the PostgreSQL target counts of `make bench-fleet`.
var fleetSizes = []int{1, 10, 50}

// fleetRow is one exporter watching n PostgreSQL targets and one Redis server.
type fleetRow struct {
	n          int
	cold, warm *measurement
}

// runFleet is `make bench-fleet`: what each PostgreSQL target costs one exporter. Every
// target is a database of its own on one local server (each watches only its database),
// beside one Redis target; the exporter is measured cold (every query runs) and warm
// (within the TTLs) at each size, and the cost per target is the growth between sizes.
func runFleet(ctx context.Context, exporter string, runs int, out io.Writer) error {
	if _, err := os.Stat(exporter); err != nil {
		return fmt.Errorf("no exporter binary (make build): %w", err)
	}
	logf("starting PostgreSQL and Redis")
	// each target holds its probe's session and up to 2 in its database: 150 at 50 targets
	pg, err := testenv.StartPostgres(testenv.PGOptions{Conf: []string{"max_connections = 300"}})
	if err != nil {
		return err
	}
	defer pg.Stop()
	rs, err := testenv.StartRedis(testenv.RedisOptions{NoReplica: true})
	if err != nil {
		return err
	}
	defer rs.Stop()
	if err := prepareRoles(ctx, pg.Primary); err != nil {
		return err
	}
	most := fleetSizes[len(fleetSizes)-1]
	for i := 1; i <= most; i++ {
		if err := pg.Primary.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE fleet_%d", i)); err != nil {
			return err
		}
		if err := pg.Primary.Exec(ctx, fmt.Sprintf("fleet_%d", i),
			"CREATE TABLE t (id int PRIMARY KEY, v text)", "INSERT INTO t SELECT g, 'x' FROM generate_series(1, 1000) g", "ANALYZE t"); err != nil {
			return err
		}
	}
	logf("%d databases on PostgreSQL %d, Redis on %s", most, pg.Version, rs.Primary.Addr())
	dir, err := os.MkdirTemp("", "pe-bench-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var rows []fleetRow
	for _, n := range fleetSizes {
		var b strings.Builder
		b.WriteString("targets:\n  postgres:\n")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "    - name: pg%d\n      dsn: postgres://%s@127.0.0.1:%d/fleet_%d?sslmode=disable\n      databases: {include: [fleet_%d]}\n",
				i, roleOurs, pg.Primary.Port, i, i)
		}
		fmt.Fprintf(&b, "  redis:\n    - {name: cache, addr: %q}\nadvisor: {enabled: false}\n", rs.Primary.Addr())
		cfg := filepath.Join(dir, fmt.Sprintf("fleet-%d.yml", n))
		if err := os.WriteFile(cfg, []byte(b.String()), 0o644); err != nil {
			return err
		}
		row := fleetRow{n: n}
		logf("%d PostgreSQL targets + Redis: cold", n)
		if row.cold, err = measureExporter(ctx, pg.Primary, "postgres", "cold", roleOurs, runs, exporter, "--config.file="+cfg, "--query.ttl-cap=0s"); err != nil {
			return fmt.Errorf("%d targets, cold: %w", n, err)
		}
		logf("%d PostgreSQL targets + Redis: warm", n)
		if row.warm, err = measureExporter(ctx, pg.Primary, "postgres", "warm", roleOurs, runs, exporter, "--config.file="+cfg); err != nil {
			return fmt.Errorf("%d targets, warm: %w", n, err)
		}
		rows = append(rows, row)
	}
	fleetReport(out, rows, runs)
	return nil
}

// fleetReport prints the measurements and the cost of one more target (the growth from the
// smallest size to each larger one, divided by the targets added): linear growth shows as the
// same cost per target at every size.
func fleetReport(w io.Writer, rows []fleetRow, runs int) {
	fmt.Fprintf(w, "\nOne exporter, N PostgreSQL targets (a database each) + 1 Redis target; /metrics, median of %d scrapes\n\n", runs)
	fmt.Fprintln(w, "| PostgreSQL targets | cold wall | cold CPU | warm wall | warm CPU | peak RSS | series |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		cw, _, _ := stats(r.cold.wall)
		ww, _, _ := stats(r.warm.wall)
		fmt.Fprintf(w, "| %d | %.3f s | %.3f s | %.3f s | %.3f s | %.0f MiB | %d |\n", r.n, cw.Seconds(), r.cold.cpu.Seconds(),
			ww.Seconds(), r.warm.cpu.Seconds(), mib(max(r.cold.peakRSS, r.warm.peakRSS)), r.warm.series)
	}
	if len(rows) < 2 {
		return
	}
	fmt.Fprintln(w, "\nPer added PostgreSQL target (growth from the smallest size)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| from → to | cold wall | cold CPU | warm wall | warm CPU | peak RSS | series |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	base := rows[0]
	for _, r := range rows[1:] {
		k := float64(r.n - base.n)
		per := func(a, b time.Duration) float64 { return (b - a).Seconds() * 1000 / k }
		cw0, _, _ := stats(base.cold.wall)
		cw1, _, _ := stats(r.cold.wall)
		ww0, _, _ := stats(base.warm.wall)
		ww1, _, _ := stats(r.warm.wall)
		rss := float64(max(r.cold.peakRSS, r.warm.peakRSS)-max(base.cold.peakRSS, base.warm.peakRSS)) / k / 1024
		fmt.Fprintf(w, "| %d → %d | %.1f ms | %.1f ms | %.2f ms | %.2f ms | %.0f KiB | %.0f |\n", base.n, r.n,
			per(cw0, cw1), per(base.cold.cpu, r.cold.cpu), per(ww0, ww1), per(base.warm.cpu, r.warm.cpu), rss,
			float64(r.warm.series-base.warm.series)/k)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
