package elasticsearch

import (
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestDefaultElasticsearchPack(t *testing.T) {
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(queries.SourceElasticsearch)
	if len(qs) < 20 {
		t.Fatalf("only %d default Elasticsearch queries", len(qs))
	}
	types := map[string]queries.MetricType{}
	for _, q := range qs {
		if q.Help == "" {
			t.Errorf("%s:%d: query %q has no help", q.File, q.Line, q.Name)
		}
		if _, ok := q.Body.(*HTTP); !ok {
			t.Errorf("query %q has no http body", q.Name)
		}
		for _, m := range q.Metrics {
			if !strings.HasPrefix(m.Name, "elasticsearch_") {
				t.Errorf("metric %q: want the elasticsearch_ prefix", m.Name)
			}
			types[m.Name] = m.Type
		}
	}
	// elasticsearch_exporter's names that promtool rejects for their type are untyped
	for name, want := range map[string]queries.MetricType{
		"elasticsearch_cluster_health_status":                          queries.Gauge,
		"elasticsearch_indices_docs_total":                             queries.Untyped, // a gauge ending in _total
		"elasticsearch_thread_pool_queue_count":                        queries.Untyped, // a gauge ending in _count
		"elasticsearch_thread_pool_rejected_count":                     queries.Untyped, // a counter without _total
		"elasticsearch_breakers_tripped":                               queries.Untyped,
		"elasticsearch_index_stats_indexing_index_total":               queries.Counter,
		"elasticsearch_process_cpu_seconds_total":                      queries.Counter,
		"elasticsearch_clustersettings_stats_shard_allocation_enabled": queries.Gauge,
	} {
		if got, ok := types[name]; !ok || got != want {
			t.Errorf("metric %s: type %v (present %v), want %v", name, got, ok, want)
		}
	}
}

// Every mistake in an http body is reported at load, with the file and the query's line.
func TestHTTPValidation(t *testing.T) {
	text := `source: elasticsearch
queries:
  - name: q
    http:
      path: _cluster/health
    columns: [{name: status, usage: gauge}]
  - name: r
    http:
      path: /{nope}/_stats
      rows: indices.*.total
      fields:
        index: $key | frob
        ghost: $key
      where: ["a |"]
      group: {by: [index], count: n}
      states: {column: status, label: color, values: [green, green]}
    columns:
      - {name: index, usage: label}
      - {name: other, usage: label}
      - {name: color, usage: gauge}
      - {name: n, usage: label}
      - {name: status, usage: gauge}
      - {name: "a..b", usage: gauge, metric: r_ab}
  - name: s
    http:
      path: /_cat/shards
      rows: "*"
      group: {by: []}
      states: {column: x}
    columns: [{name: index, usage: label}, {name: x, usage: gauge}]
`
	_, err := queries.Parse("bad.yaml", []byte(text), allKinds())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`bad.yaml:3: query "q": http path "_cluster/health" must start with /`,
		`bad.yaml:7: query "r": http path: unknown placeholder {nope} (want one of {indices}, {slm_policies}, {snapshot_repositories})`,
		`bad.yaml:7: query "r": http rows: "indices.*.total" must end with *`,
		`bad.yaml:7: query "r": http field "index": expression "$key | frob": unknown function "frob"`,
		`bad.yaml:7: query "r": http where[0]: expression "a |": a | without a function after it`,
		`bad.yaml:7: query "r": http states: value "green" appears twice`,
		`bad.yaml:8: query "r": http field "ghost" is not a column`,
		`bad.yaml:8: query "r": column "a..b" is not a field and not an expression: expression "a..b": path "a..b" has an empty part`,
		`bad.yaml:8: query "r": http group.count "n" must be a gauge column, not label`,
		`bad.yaml:8: query "r": label column "other" must be in http group.by`,
		`bad.yaml:8: query "r": http states.label "color" must be a label column, not gauge`,
		`bad.yaml:24: query "s": http group needs by`,
		`bad.yaml:24: query "s": http states needs column, label and values`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing error %q in:\n%v", want, err)
		}
	}
}

// A user pack adds a metric from any endpoint without Go.
func TestHTTPUserPack(t *testing.T) {
	p, err := queries.Parse("user.yaml", []byte(`source: elasticsearch
queries:
  - name: es_pending_tasks
    help: Pending cluster tasks by priority.
    http:
      path: /_cluster/pending_tasks
      rows: tasks.*
      where: ["priority | ne LANGUID"]
      fields: {priority: priority}
      group: {by: [priority], count: tasks, max: [time_in_queue_millis]}
    columns:
      - {name: priority, usage: label}
      - {name: tasks, usage: gauge}
      - {name: time_in_queue_millis, usage: gauge, scale: 0.001, metric: es_pending_tasks_max_wait_seconds}
`), allKinds())
	if err != nil {
		t.Fatal(err)
	}
	q := p.Queries[0]
	h := q.Body.(*HTTP)
	if h.Path != "/_cluster/pending_tasks" || h.Group.Count != "tasks" || !h.Derived("tasks") {
		t.Errorf("decoded %+v", h)
	}
	if len(q.Metrics) != 2 || q.Metrics[1].Name != "es_pending_tasks_max_wait_seconds" {
		t.Errorf("metrics %+v", q.Metrics)
	}
}

// allKinds are the source kinds of the default packs, as collector/kinds's table (which
// imports this package, so its tests cannot).
func allKinds() queries.SourceKinds {
	return queries.SourceKinds{postgres.Kind().Pack, postgres.PgbouncerKind().Pack, redis.Kind().Pack, Kind().Pack, pgbackrest.Kind().Pack}
}
