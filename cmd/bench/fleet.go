package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// fleetSizes are the PostgreSQL target counts of `make bench-fleet`.
var fleetSizes = []int{1, 10, 50}

// fleetRow is one exporter watching n PostgreSQL targets and one Redis server.
type fleetRow struct {
	n          int
	cold, warm *contestant
	peakRSS    int64 // bytes, the larger of the two processes'
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
	pg, err := testenv.StartPostgres(testenv.PGOptions{Conf: []string{"max_connections = 300", "log_connections = on"}})
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
	b := &bench{pg: pg, dir: dir, logFile: filepath.Join(pg.Dir, "primary.log")}
	var rows []fleetRow
	for _, n := range fleetSizes {
		config := func(role string) string {
			var t strings.Builder
			t.WriteString("targets:\n  postgres:\n")
			for i := 1; i <= n; i++ {
				fmt.Fprintf(&t, "    - name: pg%d\n      dsn: postgres://%s@127.0.0.1:%d/fleet_%d?sslmode=disable\n      databases: {include: [fleet_%d]}\n",
					i, role, pg.Primary.Port, i, i)
			}
			fmt.Fprintf(&t, "  redis:\n    - {name: cache, addr: %q}\nadvisor: {enabled: false}\n", rs.Primary.Addr())
			return b.write(fmt.Sprintf("fleet-%d-%s.yml", n, role), t.String())
		}
		row := fleetRow{n: n}
		logf("%d PostgreSQL targets + Redis: cold and warm", n)
		if row.cold, err = b.start(ctx, "cold", roleCold, exporter, "--config.file="+config(roleCold), "--query.ttl-cap=0s"); err != nil {
			return fmt.Errorf("%d targets, cold: %w", n, err)
		}
		if row.warm, err = b.start(ctx, "warm", roleWarm, exporter, "--config.file="+config(roleWarm)); err != nil {
			row.cold.stop()
			return fmt.Errorf("%d targets, warm: %w", n, err)
		}
		err := b.rounds(ctx, []*contestant{row.cold, row.warm}, runs)
		for _, c := range []*contestant{row.cold, row.warm} {
			rss, _ := peakRSS(c.proc.Process.Pid)
			row.peakRSS = max(row.peakRSS, rss)
			c.stop()
		}
		if err != nil {
			return fmt.Errorf("%d targets: %w", n, err)
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
		fmt.Fprintf(w, "| %d | %.3f s | %.3f s | %.3f s | %.3f s | %.0f MiB | %d |\n", r.n, r.cold.median().Seconds(), r.cold.cpuPer().Seconds(),
			r.warm.median().Seconds(), r.warm.cpuPer().Seconds(), mib(r.peakRSS), r.warm.series())
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
		rss := float64(r.peakRSS-base.peakRSS) / k / 1024
		fmt.Fprintf(w, "| %d → %d | %.1f ms | %.1f ms | %.2f ms | %.2f ms | %.0f KiB | %.0f |\n", base.n, r.n,
			per(base.cold.median(), r.cold.median()), per(base.cold.cpuPer(), r.cold.cpuPer()),
			per(base.warm.median(), r.warm.median()), per(base.warm.cpuPer(), r.warm.cpuPer()), rss,
			float64(r.warm.series()-base.warm.series())/k)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// cpuPer is the contestant's CPU time per measured scrape.
func (c *contestant) cpuPer() time.Duration {
	if len(c.samples) == 0 {
		return 0
	}
	return c.cost.cpu / time.Duration(len(c.samples))
}

// series is the series count of the contestant's last scrape.
func (c *contestant) series() int {
	if len(c.samples) == 0 {
		return 0
	}
	return c.samples[len(c.samples)-1].series
}

// peakRSS is a process's peak resident set (VmHWM), in bytes, from /proc.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
