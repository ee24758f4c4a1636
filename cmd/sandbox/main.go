// Command sandbox is `make demo`: it starts a PostgreSQL primary and streaming replica in a
// temporary directory, loads the seed deployment's Temporal schema, runs persistence_exporter
// against both, prints where to look, and on Ctrl-C stops everything it started.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

func main() {
	exporter := flag.String("exporter", "./persistence_exporter", "the exporter binary")
	listen := flag.String("listen", "127.0.0.1:9863", "where the exporter listens (a free port is taken when this one is busy)")
	seedDir := flag.String("seed", "testdata/seed", "directory of the seed schema (schema.sql, cron.sql)")
	check := flag.Bool("check", false, "start everything, check that both servers scrape, stop, and exit (for tests)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *exporter, *listen, *seedDir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

func say(out io.Writer, format string, args ...any) {
	fmt.Fprintf(out, "[sandbox %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, out io.Writer, exporter, listen, seedDir string, check bool) (err error) {
	if _, err := os.Stat(exporter); err != nil {
		return fmt.Errorf("no exporter binary at %s (make build): %w", exporter, err)
	}
	t0 := time.Now()
	say(out, "starting PostgreSQL primary and streaming replica ...")
	pg, err := testenv.StartPostgres(testenv.PGOptions{Replica: true})
	if err != nil {
		return err
	}
	defer func() {
		say(out, "stopping PostgreSQL and removing %s", pg.Dir)
		pg.Stop()
	}()
	say(out, "PostgreSQL %d up in %.1fs: primary 127.0.0.1:%d, replica 127.0.0.1:%d (data in %s)",
		pg.Version, time.Since(t0).Seconds(), pg.Primary.Port, pg.Replica.Port, pg.Dir)

	if err := loadSeed(ctx, pg, seedDir); err != nil {
		return err
	}
	say(out, "loaded the seed's Temporal schema into database \"temporal\"")
	if ctx.Err() != nil {
		return nil
	}

	cfg := filepath.Join(pg.Dir, "persistence_exporter.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`# written by make demo
targets:
  postgres:
    - name: primary
      dsn: %s
      cluster: temporal
    - name: replica1
      dsn: %s
      cluster: temporal
`, pg.Primary.DSN("temporal"), pg.Replica.DSN("temporal"))), 0o644); err != nil {
		return err
	}
	addr, err := pickAddress(listen)
	if err != nil {
		return err
	}
	logFile := filepath.Join(pg.Dir, "exporter.log")
	stopExporter, err := startExporter(exporter, cfg, addr, logFile)
	if err != nil {
		return err
	}
	defer func() {
		say(out, "stopping the exporter")
		stopExporter()
	}()

	url := "http://" + addr
	sample, err := waitScrape(ctx, url+"/metrics", logFile)
	if err != nil {
		return err
	}
	say(out, "ready in %.1fs", time.Since(t0).Seconds())
	fmt.Fprintf(out, "\n  metrics:   %s/metrics\n  probe:     %s/probe?target=replica1\n  landing:   %s/\n  config:    %s\n  log:       %s\n\n", url, url, url, cfg, logFile)
	fmt.Fprintf(out, "A sample of /metrics:\n%s\n", sample)
	if check {
		return nil
	}
	fmt.Fprintln(out, "Press Ctrl-C to stop everything.")
	<-ctx.Done()
	return nil
}

func loadSeed(ctx context.Context, pg *testenv.PGCluster, dir string) error {
	schema, err := os.ReadFile(filepath.Join(dir, "schema.sql"))
	if err != nil {
		return err
	}
	p := pg.Primary
	if err := p.Exec(ctx, "postgres", "CREATE DATABASE temporal"); err != nil {
		return err
	}
	if err := p.ExecScript(ctx, "temporal", string(schema)); err != nil {
		return fmt.Errorf("schema.sql: %w", err)
	}
	if err := p.Exec(ctx, "temporal", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
		return err
	}
	if pg.HasLib("pg_cron") {
		cron, err := os.ReadFile(filepath.Join(dir, "cron.sql"))
		if err != nil {
			return err
		}
		if err := p.ExecScript(ctx, "postgres", string(cron)); err != nil {
			return fmt.Errorf("cron.sql: %w", err)
		}
	}
	return pg.WaitReplayed(ctx)
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

func startExporter(bin, cfg, addr, logFile string) (stop func(), err error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config.file="+cfg, "--web.listen-address="+addr)
	cmd.Stdout, cmd.Stderr = f, f
	// its own process group: Ctrl-C reaches the sandbox, which stops it in order
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(done)
	}()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, nil
}

var sampleRe = regexp.MustCompile(`^(pg_up|pg_stat_database_xact_commit\{.*datname="temporal"|temporal_metrics_live_tuples\{.*tablename="executions"|persistence_exporter_query_duration_seconds\{query="pg_stat_database")`)

// waitScrape waits until both servers scrape with pg_up 1 and returns a few lines.
func waitScrape(ctx context.Context, url, logFile string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(url)
		if err == nil {
			var lines []string
			up := 0
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				l := sc.Text()
				if sampleRe.MatchString(l) {
					lines = append(lines, "  "+l)
				}
				if strings.HasPrefix(l, "pg_up{") && strings.HasSuffix(l, " 1") {
					up++
				}
			}
			resp.Body.Close()
			if up == 2 {
				return strings.Join(lines, "\n"), nil
			}
			last = strings.Join(lines, "\n")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	b, _ := os.ReadFile(logFile)
	return "", errors.New("the exporter did not report pg_up 1 for both servers within 30s; last sample:\n" + last + "\nexporter log:\n" + string(b))
}
