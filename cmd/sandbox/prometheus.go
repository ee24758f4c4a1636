package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// prometheusBin is Debian's Prometheus.
const prometheusBin = "/usr/bin/prometheus"

// startPrometheus runs a real Prometheus that scrapes the exporter and evaluates the alert
// rules of alertsDir; fast scrapes every 2 s (for the test) instead of 15 s.
func startPrometheus(ctx context.Context, dir, exporterAddr, alertsDir string, fast bool) (url string, stop func(), err error) {
	if _, err := os.Stat(prometheusBin); err != nil {
		return "", nil, fmt.Errorf("no Prometheus at %s (make deps installs Debian's prometheus): %w", prometheusBin, err)
	}
	rules, err := filepath.Abs(filepath.Join(alertsDir, "*.yml"))
	if err != nil {
		return "", nil, err
	}
	interval, timeout := "15s", "10s"
	if fast {
		interval, timeout = "2s", "2s"
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`# written by make demo
global:
  scrape_interval: %[1]s
  evaluation_interval: %[1]s
rule_files: [%[2]q]
scrape_configs:
  - job_name: persistence_exporter
    scrape_timeout: %[3]s
    static_configs:
      - targets: [%[4]q]
`, interval, rules, timeout, exporterAddr)), 0o644); err != nil {
		return "", nil, err
	}
	port, err := testenv.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	stop, err = startProcess(filepath.Join(dir, "prometheus.log"), prometheusBin, "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"), "--storage.tsdb.retention.time=1d",
		"--web.listen-address="+addr)
	if err != nil {
		return "", nil, err
	}
	url = "http://" + addr
	if err := testenv.PrometheusReady(ctx, url, 30*time.Second, nil); err != nil {
		stop()
		log, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		return "", nil, fmt.Errorf("prometheus did not get ready: %w\n%s", err, tailLines(string(log), 20))
	}
	return url, stop, nil
}

// checkPrometheus waits until Prometheus has scraped the exporter and says how many rule
// groups it loaded.
func checkPrometheus(ctx context.Context, out io.Writer, url string) error {
	var groups int
	err := poll(ctx, 60*time.Second, func() error {
		var targets struct {
			Data struct {
				ActiveTargets []struct{ Health, LastError string } `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(url+"/api/v1/targets", &targets); err != nil {
			return err
		}
		if len(targets.Data.ActiveTargets) != 1 || targets.Data.ActiveTargets[0].Health != "up" {
			return fmt.Errorf("the exporter is not scraped yet: %+v", targets.Data.ActiveTargets)
		}
		var rules struct {
			Data struct {
				Groups []json.RawMessage `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(url+"/api/v1/rules", &rules); err != nil {
			return err
		}
		groups = len(rules.Data.Groups)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Prometheus scrapes the exporter; rule groups loaded: %d\n", groups)
	return nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitScrape waits until every wanted up series is in a scrape.
func waitScrape(ctx context.Context, url, logFile string, want []string) error {
	var missing []string
	err := poll(ctx, 60*time.Second, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		seen := map[string]bool{}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			seen[sc.Text()] = true
		}
		missing = missing[:0]
		for _, w := range want {
			if !seen[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			return errors.New("missing " + strings.Join(missing, ", "))
		}
		return nil
	})
	if err != nil {
		b, _ := os.ReadFile(logFile)
		return fmt.Errorf("the exporter does not report every target up: %w\nexporter log:\n%s", err, tailLines(string(b), 30))
	}
	return nil
}

// advisorSummary waits for the advisor's first report and writes its summary.
func advisorSummary(ctx context.Context, url string) (string, error) {
	var rep advisor.Report
	if err := poll(ctx, 2*time.Minute, func() error { return getJSON(url+"/advisor.json", &rep) }); err != nil {
		return "", fmt.Errorf("the advisor's first report: %w", err)
	}
	count := map[advisor.Severity]int{}
	for _, f := range rep.Findings {
		count[f.Severity]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %d critical, %d warning, %d info findings (more appear as the workload runs: slow statements, sequential scans)\n",
		count[advisor.Critical], count[advisor.Warning], count[advisor.Info])
	b.WriteString("  planted faults: the seed's redundant index pairs, wf_meta: keys written without a TTL, a slow report;\n" +
		"  with the Elasticsearch replay, the fixtures' incident (watermark, unassigned shards, ILM error, snapshots, fields)\n")
	for i, f := range rep.Findings {
		if i == 8 {
			fmt.Fprintf(&b, "  ... and %d more on %s/advisor\n", len(rep.Findings)-i, url)
			break
		}
		fmt.Fprintf(&b, "  [%s] %s %s %s: %s\n", f.Severity, f.Check, f.Target, f.Object, f.Summary)
	}
	return b.String(), nil
}

// poll calls f until it succeeds, ctx ends or limit passes.
func poll(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errStopped
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
