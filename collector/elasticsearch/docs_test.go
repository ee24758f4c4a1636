package elasticsearch_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
)

// docAlerts reads the PromQL block of docs/elasticsearch.md: one expression per paragraph,
// comment lines dropped.
func docAlerts(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(estest.Dir(t, "x")), "..", "..", "docs", "elasticsearch.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```promql\n")
	if !ok {
		t.Fatal("docs/elasticsearch.md has no promql block")
	}
	block, _, _ = strings.Cut(block, "```")
	var exprs []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			exprs = append(exprs, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
			flush()
		case len(cur) > 0 && (strings.HasPrefix(line, ">") || strings.HasPrefix(line, "<") || strings.HasPrefix(line, "and")):
			cur = append(cur, line) // a continuation of the expression above
		default:
			flush()
			cur = append(cur, line)
		}
	}
	flush()
	return exprs
}

// The alert expressions of the docs, evaluated by promtool on what the exporter serves for the
// replayed clusters: each fires on the 8.x incident when it should, and the problem alerts
// stay silent on the healthy 7.17 cluster.
func TestDocsAlerts(t *testing.T) {
	exprs := docAlerts(t)
	// how many series each expression returns (counters and ages as served: one scrape)
	want := map[string][2]int{ // expression prefix -> {8.13, 7.17}
		`elasticsearch_cluster_health_status{color="red"}`:  {1, 0},
		`elasticsearch_unassigned_shards{prirep="p"}`:       {1, 0},
		`elasticsearch_cat_allocation_disk_used_ratio`:      {1, 0},
		`1 - elasticsearch_filesystem_data_available_bytes`: {1, 0},
		`elasticsearch_ilm_index_step_error`:                {1, 0},
		`elasticsearch_ilm_index_step_age_seconds`:          {1, 0},
		`elasticsearch_indices_mappings_stats_fields`:       {1, 0},
		`increase(elasticsearch_breakers_tripped`:           {0, 0}, // one scrape: no increase
		`increase(elasticsearch_thread_pool_rejected_count`: {0, 0},
		`elasticsearch_slm_policy_last_success_age_seconds`: {1, 1}, // recorded long before now
	}
	if len(exprs) != len(want) {
		t.Fatalf("the docs have %d expressions, the test knows %d: %q", len(exprs), len(want), exprs)
	}
	counts := func(e string) [2]int {
		for prefix, c := range want {
			if strings.HasPrefix(e, prefix) {
				return c
			}
		}
		t.Fatalf("no expectation for %q", e)
		return [2]int{}
	}
	for i, version := range []string{"8.13", "7.17"} {
		srv := estest.New(t, version, false)
		s := newExporter(target(t, "visibility", srv, elasticsearch.Options{})).scrape(t)
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("tests:\n  - interval: 1m\n    input_series:\n")
		for series, v := range s.samples {
			if strings.HasPrefix(series, "go_") || strings.HasPrefix(series, "process_") {
				continue
			}
			fmt.Fprintf(&b, "      - series: '%s'\n        values: '%v+0x20'\n", strings.ReplaceAll(series, "'", "''"), v)
		}
		b.WriteString("    promql_expr_test:\n")
		for _, e := range exprs {
			fmt.Fprintf(&b, "      - expr: 'count(%s)'\n        eval_time: 20m\n", strings.ReplaceAll(e, "'", "''"))
			if n := counts(e)[i]; n > 0 {
				fmt.Fprintf(&b, "        exp_samples: [{labels: '{}', value: %d}]\n", n)
			} else {
				b.WriteString("        exp_samples: []\n")
			}
		}
		file := filepath.Join(dir, "test.yml")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("promtool", "test", "rules", file).CombinedOutput()
		if err != nil {
			t.Errorf("%s: promtool test rules: %v\n%s", version, err, out)
		}
	}
}
