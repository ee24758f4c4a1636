package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestDemo runs what `make demo` runs, in --check mode: every server of the sandbox starts,
// the exporter reports each target up (the Elasticsearch replay too), the advisor reports, a
// real Prometheus scrapes the exporter with the alert rules loaded, every dashboard panel
// shows data in that Prometheus (or is listed in blankPanels with the reason), and everything
// stops and is removed.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, Redis and Prometheus (skipped under -short)")
	}
	bin := filepath.Join(t.TempDir(), "persistence_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "../persistence_exporter").CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var out bytes.Buffer
	o := options{exporter: bin, listen: fmt.Sprintf("127.0.0.1:%d", port), seedDir: "../../testdata/seed", alerts: "../../alerts", check: true,
		esReplay: "../../testdata/elasticsearch/8.13"}
	dashboards := false
	o.inspect = func(ctx context.Context, prom string) error {
		dashboards = t.Run("dashboards", func(t *testing.T) { checkDashboards(t, ctx, prom) })
		return nil
	}
	if err := run(ctx, &out, o); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	if !dashboards {
		t.Errorf("the dashboards' panels do not all show data in the sandbox's Prometheus (see the dashboards subtest)\n%s", text)
	}
	groups := 0
	rules, _ := filepath.Glob("../../alerts/*.yml")
	for _, f := range rules {
		data := testenv.ReadFile(t, f)
		var doc struct{ Groups []yaml.Node }
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		groups += len(doc.Groups)
	}
	if groups == 0 {
		t.Error("no alert rule groups in alerts/")
	}
	for _, want := range []string{
		"/advisor", "Prometheus ", "ES_URL", "findings",
		`target "visibility-replay"`, "A REPLAY, NOT A LIVE CLUSTER", "stopping the Elasticsearch replay",
		fmt.Sprintf("Prometheus scrapes the exporter; rule groups loaded: %d", groups),
		"stopping Prometheus", "stopping Redis", "stopping PostgreSQL",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, testenv.RedisSentinelPassword) || strings.Contains(text, testenv.RedisPassword) {
		t.Error("the demo prints a Redis password")
	}
	// nothing is left behind
	dirs := regexp.MustCompile(`(?:removing|data in) (/\S+?)[),]?(?:\s|$)`).FindAllStringSubmatch(text, -1)
	if len(dirs) < 2 {
		t.Fatalf("no directories in the output:\n%s", text)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d[1]); !os.IsNotExist(err) {
			t.Errorf("the sandbox left %s behind (%v)", d[1], err)
		}
	}
}
