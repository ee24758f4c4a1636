package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusBin is Debian's Prometheus server.
const PrometheusBin = "/usr/bin/prometheus"

// Prometheus is a real Prometheus server of one test, in a temporary directory.
type Prometheus struct {
	URL string
	API v1.API
}

// StartPrometheus runs Prometheus with the given configuration file text (scrape_configs
// and all) on a free port, waits until it is ready and stops it when the test ends. Under
// -short it skips the test; a missing binary fails it.
func StartPrometheus(t testing.TB, config string) *Prometheus {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a Prometheus server (skipped under -short)")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logFile := filepath.Join(dir, "prometheus.log")
	proc, err := startProcess(exec.Command(PrometheusBin, "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr), logFile)
	if err != nil {
		t.Fatalf("%v (make deps installs Debian's prometheus)", err)
	}
	t.Cleanup(func() { proc.stop(syscall.SIGTERM, 10*time.Second) })
	url := "http://" + addr
	if err := PrometheusReady(context.Background(), url, 30*time.Second, proc.exited); err != nil {
		t.Fatalf("prometheus did not get ready: %v\n%s", err, tailFile(logFile, 20))
	}
	client, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		t.Fatal(err)
	}
	return &Prometheus{URL: url, API: v1.NewAPI(client)}
}

// PrometheusReady waits until the Prometheus at url says it is ready (/-/ready), for up to
// limit; it gives up at once when exited (may be nil) reports that the process ended.
func PrometheusReady(ctx context.Context, url string, limit time.Duration, exited func() bool) error {
	return poll(ctx, limit, func() error {
		if exited != nil && exited() {
			return fmt.Errorf("prometheus exited: %w", errStop)
		}
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/-/ready: %s", resp.Status)
		}
		return nil
	})
}

// WaitQuery evaluates expr until it returns a vector that ok accepts, or fails the test after
// limit with the last answer.
func (p *Prometheus) WaitQuery(t testing.TB, expr string, limit time.Duration, ok func(model.Vector) bool) model.Vector {
	t.Helper()
	var last model.Vector
	err := poll(context.Background(), limit, func() error {
		v, _, _, err := p.API.Query(context.Background(), expr, time.Now())
		if err != nil {
			return err
		}
		vec, isVec := v.(model.Vector)
		if !isVec {
			return fmt.Errorf("%s: a %s, want a vector", expr, v.Type())
		}
		last = vec
		if !ok(vec) {
			return fmt.Errorf("%s: not yet: %v", expr, vec)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v (last answer: %v)", err, last)
	}
	return last
}
