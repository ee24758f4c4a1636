package queries

import (
	"reflect"
	"strings"
	"testing"
)

func TestDefaultElasticsearchPack(t *testing.T) {
	set, err := DefaultSet(BuiltinKinds())
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(SourceElasticsearch)
	if len(qs) < 20 {
		t.Fatalf("only %d default Elasticsearch queries", len(qs))
	}
	types := map[string]MetricType{}
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
	for name, want := range map[string]MetricType{
		"elasticsearch_cluster_health_status":                          Gauge,
		"elasticsearch_indices_docs_total":                             Untyped, // a gauge ending in _total
		"elasticsearch_thread_pool_queue_count":                        Untyped, // a gauge ending in _count
		"elasticsearch_thread_pool_rejected_count":                     Untyped, // a counter without _total
		"elasticsearch_breakers_tripped":                               Untyped,
		"elasticsearch_index_stats_indexing_index_total":               Counter,
		"elasticsearch_process_cpu_seconds_total":                      Counter,
		"elasticsearch_clustersettings_stats_shard_allocation_enabled": Gauge,
	} {
		if got, ok := types[name]; !ok || got != want {
			t.Errorf("metric %s: type %v (present %v), want %v", name, got, ok, want)
		}
	}
}

func TestParseExpr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Expr
	}{
		{"number_of_nodes", Expr{Sources: []Ref{{Path: []string{"number_of_nodes"}}}}},
		{"jvm.mem.heap_used_in_bytes", Expr{Sources: []Ref{{Path: []string{"jvm", "mem", "heap_used_in_bytes"}}}}},
		{"$key", Expr{Sources: []Ref{{Kind: RefKey}}}},
		{"^^$key", Expr{Sources: []Ref{{Kind: RefKey, Up: 2}}}},
		{"^name", Expr{Sources: []Ref{{Up: 1, Path: []string{"name"}}}}},
		{"$value", Expr{Sources: []Ref{{Kind: RefValue}}}},
		{"$cluster", Expr{Sources: []Ref{{Kind: RefCluster}}}},
		{"$.cluster_name", Expr{Sources: []Ref{{Root: true, Path: []string{"cluster_name"}}}}},
		{"'heap'", Expr{Sources: []Ref{{Kind: RefLiteral, Literal: "heap"}}}},
		{"'a, b | c'", Expr{Sources: []Ref{{Kind: RefLiteral, Literal: "a, b | c"}}}},
		{"failed_step?", Expr{Sources: []Ref{{Path: []string{"failed_step"}, Optional: true}}}},
		{"a.b, c | ratio", Expr{Sources: []Ref{{Path: []string{"a", "b"}}, {Path: []string{"c"}}}, Funcs: []Func{{Name: "ratio"}}}},
		{"$key | in search, write", Expr{Sources: []Ref{{Kind: RefKey}}, Funcs: []Func{{Name: "in", Arg: "search, write", Args: []string{"search", "write"}}}}},
		{"reason | truncate 20 | default none", Expr{Sources: []Ref{{Path: []string{"reason"}}},
			Funcs: []Func{{Name: "truncate", Arg: "20", N: 20}, {Name: "default", Arg: "none"}}}},
		{"x | since ms", Expr{Sources: []Ref{{Path: []string{"x"}}}, Funcs: []Func{{Name: "since", Arg: "ms"}}}},
		{"disk.used | div ^disk.total", Expr{Sources: []Ref{{Path: []string{"disk", "used"}}},
			Funcs: []Func{{Name: "div", Arg: "^disk.total", Ref: &Ref{Up: 1, Path: []string{"disk", "total"}}}}}},
		{"stop | sub start", Expr{Sources: []Ref{{Path: []string{"stop"}}},
			Funcs: []Func{{Name: "sub", Arg: "start", Ref: &Ref{Path: []string{"start"}}}}}},
		{"^db | find id=database.id, repo-key=$.k | get version", Expr{Sources: []Ref{{Up: 1, Path: []string{"db"}}},
			Funcs: []Func{
				{Name: "find", Arg: "id=database.id, repo-key=$.k", Match: []FuncMatch{
					{Key: []string{"id"}, Ref: Ref{Path: []string{"database", "id"}}},
					{Key: []string{"repo-key"}, Ref: Ref{Root: true, Path: []string{"k"}}}}},
				{Name: "get", Arg: "version", Path: []string{"version"}}}}},
		{"x | exists | map true=y, false=n", Expr{Sources: []Ref{{Path: []string{"x"}}},
			Funcs: []Func{{Name: "exists"}, {Name: "map", Arg: "true=y, false=n", Pairs: map[string]string{"true": "y", "false": "n"}}}}},
		{"t | datetime s", Expr{Sources: []Ref{{Path: []string{"t"}}}, Funcs: []Func{{Name: "datetime", Arg: "s"}}}},
	} {
		got, err := ParseExpr(tc.in)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tc.in, err)
			continue
		}
		tc.want.Text = tc.in
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseExpr(%q) = %+v, want %+v", tc.in, *got, tc.want)
		}
	}
	for in, want := range map[string]string{
		"":                "has no source",
		"| ratio":         "has no source",
		"a | frobnicate":  `unknown function "frobnicate"`,
		"a | ratio 3":     "ratio takes no argument",
		"a | eq":          "eq needs an argument",
		"a | since h":     "since takes ms or s",
		"a | truncate -2": "needs a positive integer",
		"a | div":         "div needs an argument",
		"a | div b..c":    "div: path \"b..c\" has an empty part",
		"a | sub":         "sub needs an argument",
		"a | get b..c":    "get: path \"b..c\" has an empty part",
		"a | map y":       "map takes A=X,B=Y",
		"a | map =y":      "map takes A=X,B=Y",
		"a | find id":     "find takes KEY=SOURCE",
		"a | find id=$x":  "find: unknown variable $x",
		"a | datetime h":  "datetime takes ms or s",
		"a..b":            "empty part",
		"'open":           "not closed",
		"$nope":           "unknown variable $nope",
		"^$cluster":       "$cluster takes no ^",
		"^$.a":            "$. starts at the root",
		"^":               "^ needs a path",
		"a, ":             "empty source",
		"nodes.$key":      "has one of",
	} {
		_, err := ParseExpr(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseExpr(%q): error %v, want one with %q", in, err, want)
		}
	}
	if e, _ := ParseExpr("a?, b?"); !e.Optional() {
		t.Error("a?, b? should be optional")
	}
	if e, _ := ParseExpr("a?, b"); e.Optional() {
		t.Error("a?, b should not be optional")
	}
	if e, _ := ParseExpr("a | exists"); !e.Optional() {
		t.Error("a | exists should be optional: absence is its answer")
	}
}

func TestParseRows(t *testing.T) {
	steps, err := ParseRows("nodes.*.fs.data.*")
	if err != nil {
		t.Fatal(err)
	}
	want := []RowStep{{Key: "nodes"}, {Wildcard: true, Key: "*"}, {Key: "fs"}, {Key: "data"}, {Wildcard: true, Key: "*"}}
	if !reflect.DeepEqual(steps, want) {
		t.Errorf("got %+v", steps)
	}
	if _, err := ParseRows("nodes.*.name"); err == nil || !strings.Contains(err.Error(), "must end with *") {
		t.Errorf("rows not ending with *: %v", err)
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
	_, err := Parse("bad.yaml", []byte(text), BuiltinKinds())
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
	p := mustParse(t, "user.yaml", `source: elasticsearch
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
`)
	q := p.Queries[0]
	h := q.Body.(*HTTP)
	if h.Path != "/_cluster/pending_tasks" || h.Group.Count != "tasks" || !h.Derived("tasks") {
		t.Errorf("decoded %+v", h)
	}
	if len(q.Metrics) != 2 || q.Metrics[1].Name != "es_pending_tasks_max_wait_seconds" {
		t.Errorf("metrics %+v", q.Metrics)
	}
}
