package main

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// fleetTargets are PostgreSQL targets by cluster ("" for none), all on the package's primary.
var fleetTargets = map[string][]string{
	"alpha": {"pg-a1", "pg-a2"},
	"beta":  {"pg-b1", "pg-b2"},
	"gamma": {"pg-g1"},
	"delta": {"pg-d1"},
	"":      {"pg-solo"},
}

func fleetConfig(t *testing.T) string {
	t.Helper()
	pg := env.Postgres(t)
	var b strings.Builder
	b.WriteString("targets:\n  postgres:\n")
	for cluster, names := range fleetTargets {
		for _, n := range names {
			fmt.Fprintf(&b, "    - name: %s\n      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable\n", n, testPassword, pg.Primary.Port)
			if cluster != "" {
				fmt.Fprintf(&b, "      cluster: %s\n", cluster)
			}
		}
	}
	return testenv.WriteFile(t, t.TempDir(), "config.yml", b.String())
}

func TestServiceDiscovery(t *testing.T) {
	ex := startExporter(t, fleetConfig(t))
	resp, err := http.Get(ex.url + "/sd")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (Prometheus refuses anything else)", ct)
	}
	var groups []sdGroup
	if err := json.NewDecoder(resp.Body).Decode(&groups); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(ex.url, "http://")
	seen := map[string]bool{}
	for _, g := range groups {
		name := g.Labels["target"]
		seen[name] = true
		want := map[string]string{"__metrics_path__": "/probe", "__param_target": name, "target": name, "kind": "postgres"}
		for cluster, names := range fleetTargets {
			if slices.Contains(names, name) && cluster != "" {
				want["cluster"] = cluster
			}
		}
		if !slices.Equal(g.Targets, []string{host}) || fmt.Sprint(g.Labels) != fmt.Sprint(want) {
			t.Errorf("group %+v, want targets [%s] and labels %v", g, host, want)
		}
	}
	for _, names := range fleetTargets {
		for _, n := range names {
			if !seen[n] {
				t.Errorf("/sd lacks target %s", n)
			}
		}
	}
}

// hashmod is Prometheus' hashmod relabelling: the last 8 bytes of the MD5 of the value,
// big-endian, modulo n.
func hashmod(value string, n uint64) uint64 {
	sum := md5.Sum([]byte(value))
	return binary.BigEndian.Uint64(sum[8:]) % n
}

// TestFleetSharding runs the README's Prometheus configuration (the Fleet section) against a
// real Prometheus and two exporters with the same targets: Prometheus discovers the targets
// from one exporter's /sd and each target is scraped by exactly one exporter, the one its
// cluster hashes to, so a deployment stays on one replica.
func TestFleetSharding(t *testing.T) {
	cfg := fleetConfig(t)
	replicas := []string{
		strings.TrimPrefix(startExporter(t, cfg).url, "http://"),
		strings.TrimPrefix(startExporter(t, cfg).url, "http://"),
	}
	// the README's configuration (the first yaml block of its Fleet section), with the
	// replicas' addresses
	prom := testenv.YAMLBlock(t, filepath.Join("..", "..", "README.md"), "\n## Fleet")
	prom = strings.NewReplacer("exporter-0:9863", replicas[0], "exporter-1:9863", replicas[1],
		"scrape_interval: 30s", "scrape_interval: 2s", "scrape_timeout: 25s", "scrape_timeout: 2s",
		"refresh_interval: 1m", "refresh_interval: 2s").Replace(prom)
	p := testenv.StartPrometheus(t, prom)

	want := map[string]string{} // target → the replica that must scrape it
	used := map[string]bool{}
	for cluster, names := range fleetTargets {
		for _, n := range names {
			want[n] = replicas[hashmod(cluster, uint64(len(replicas)))]
			used[want[n]] = true
		}
	}
	if len(used) != len(replicas) {
		t.Fatalf("the test's clusters all hash to one replica (%v): pick other names", used)
	}
	// every target answered its probe (pg_up comes from /probe?target=NAME) ...
	p.WaitQuery(t, `pg_up{job="persistence"} == 1`, 60*time.Second, func(v model.Vector) bool { return len(v) == len(want) })
	// ... and has been scraped by one replica only, the one its cluster hashes to
	got := p.WaitQuery(t, `count by (target, instance, cluster) (count_over_time(up{job="persistence"}[10m]))`, 10*time.Second,
		func(v model.Vector) bool { return len(v) >= len(want) })
	byTarget := map[string][]string{}
	for _, s := range got {
		target := string(s.Metric["target"])
		byTarget[target] = append(byTarget[target], string(s.Metric["instance"]))
	}
	for target, instance := range want {
		if !slices.Equal(byTarget[target], []string{instance}) {
			t.Errorf("target %s scraped by %v, want by %s only", target, byTarget[target], instance)
		}
	}
	if len(byTarget) != len(want) {
		t.Errorf("Prometheus scraped targets %v, want %d", byTarget, len(want))
	}
	// a deployment on one replica: one instance per cluster
	perCluster := p.WaitQuery(t, `count by (cluster) (count by (cluster, instance) (up{job="persistence"}))`, 10*time.Second,
		func(v model.Vector) bool { return len(v) > 0 })
	for _, s := range perCluster {
		if s.Value != 1 {
			t.Errorf("cluster %q is scraped by %v replicas, want 1", s.Metric["cluster"], s.Value)
		}
	}
}
