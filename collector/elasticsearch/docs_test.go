package elasticsearch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// docAlerts reads the PromQL block of docs/elasticsearch.md: one expression per paragraph,
// comment lines dropped.
func docAlerts(t *testing.T) []string {
	t.Helper()
	doc := testenv.ReadFile(t, filepath.Join(filepath.Dir(estest.Dir(t, "x")), "..", "..", "docs", "elasticsearch.md"))
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

// later is the node stats answer of a version a few minutes on: counters of es-data-2 (8.13)
// or es-data-1 (7.17) have grown by the amounts given, by path under the node.
func later(t *testing.T, version, node string, grow map[string]int64) []byte {
	t.Helper()
	b := testenv.ReadFile(t, filepath.Join(estest.Dir(t, version), "nodes_stats.json"))
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range doc["nodes"].(map[string]any) {
		n := n.(map[string]any)
		if n["name"] != node {
			continue
		}
		found = true
		for path, by := range grow {
			parts := strings.Split(path, ".")
			m := n
			for _, p := range parts[:len(parts)-1] {
				m = m[p].(map[string]any)
			}
			old, err := m[parts[len(parts)-1]].(json.Number).Int64()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			m[parts[len(parts)-1]] = old + by
		}
	}
	if !found {
		t.Fatalf("no node %s in the %s fixture", node, version)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The alert expressions of the docs, evaluated by promtool on what the exporter serves for the
// replayed clusters in two scrapes, ten minutes apart to promtool: each fires on the 8.x
// incident when it should, and the problem alerts stay silent on the healthy 7.17 cluster.
// Between the scrapes the incident's es-data-2 trips its fielddata breaker and rejects search
// and write tasks; the healthy cluster's counters grow only where the alerts do not look (the
// request breaker, the get pool).
func TestDocsAlerts(t *testing.T) {
	exprs := docAlerts(t)
	// how many series each expression returns
	want := map[string][2]int{ // expression prefix -> {8.13, 7.17}
		`elasticsearch_cluster_health_status{color="red"}`:  {1, 0},
		`elasticsearch_unassigned_shards{prirep="p"}`:       {1, 0},
		`elasticsearch_cat_allocation_disk_used_ratio`:      {1, 0},
		`1 - elasticsearch_filesystem_data_available_bytes`: {1, 0},
		`elasticsearch_ilm_index_step_error`:                {1, 0},
		`elasticsearch_ilm_index_step_age_seconds`:          {1, 0},
		`elasticsearch_indices_mappings_stats_fields`:       {1, 0},
		`increase(elasticsearch_breakers_tripped`:           {1, 0}, // es-data-2's fielddata breaker
		`increase(elasticsearch_thread_pool_rejected_count`: {2, 0}, // es-data-2's search and write pools
		`elasticsearch_slm_policy_last_success_age_seconds`: {1, 1}, // recorded long before now
	}
	grow := map[string]struct {
		node string
		by   map[string]int64
	}{
		"8.13": {"es-data-2", map[string]int64{"breakers.fielddata.tripped": 3, "thread_pool.search.rejected": 120, "thread_pool.write.rejected": 7}},
		"7.17": {"es-data-1", map[string]int64{"breakers.request.tripped": 1, "thread_pool.get.rejected": 5}},
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
		ex := newExporter(target(t, "visibility", srv, elasticsearch.Options{}))
		first := ex.scrape(t)
		srv.Answer("nodes_stats", later(t, version, grow[version].node, grow[version].by))
		second := ex.scrape(t)
		if n := srv.Requests("nodes_stats"); n != 2 {
			t.Fatalf("%s: %d requests to /_nodes/stats in two scrapes", version, n)
		}
		series := map[string]bool{}
		for k := range first.samples {
			series[k] = true
		}
		for k := range second.samples {
			series[k] = true
		}
		dir := t.TempDir()
		var b strings.Builder
		// the first scrape at 0m..9m, the second from 10m on
		b.WriteString("tests:\n  - interval: 1m\n    input_series:\n")
		for k := range series {
			if strings.HasPrefix(k, "go_") || strings.HasPrefix(k, "process_") {
				continue
			}
			v1, ok1 := first.samples[k]
			v2, ok2 := second.samples[k]
			if !ok1 {
				v1 = v2
			}
			if !ok2 {
				v2 = v1
			}
			fmt.Fprintf(&b, "      - series: '%s'\n        values: '%v+0x9 %v+0x10'\n", strings.ReplaceAll(k, "'", "''"), v1, v2)
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
		file := testenv.WriteFile(t, dir, "test.yml", b.String())
		out, err := exec.Command("promtool", "test", "rules", file).CombinedOutput()
		if err != nil {
			t.Errorf("%s: promtool test rules: %v\n%s", version, err, out)
		}
	}
}
