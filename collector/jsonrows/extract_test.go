package jsonrows

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// testHTTP is an http body as Elasticsearch's kind has it (collector/elasticsearch, which
// imports this package): a path and the JSON spec.
type testHTTP struct {
	Path string `yaml:"path"`
	JSON `yaml:",inline"`
}

func (h *testHTTP) Validate() []string { return h.JSON.Validate("http") }

// query parses a one-query pack and returns it with its http body.
func query(t *testing.T, body string) *queries.Query {
	t.Helper()
	kinds := queries.SourceKinds{Kind[testHTTP](queries.SourceElasticsearch, "http")}
	p, err := queries.Parse("test.yaml", []byte("source: elasticsearch\nqueries:\n"+body), kinds)
	if err != nil {
		t.Fatal(err)
	}
	return p.Queries[0]
}

func run(t *testing.T, q *queries.Query, doc string, e Env) *queries.Rows {
	t.Helper()
	p, err := Compile(q, &q.Body.(*testHTTP).JSON)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := p.Extract(decode(t, doc), e)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// wantValues checks the values of the rows.
func wantValues(t *testing.T, rows *queries.Rows, want [][]any) {
	t.Helper()
	if !reflect.DeepEqual(rows.Values, want) {
		t.Errorf("rows:\n%v\nwant\n%v", rows.Values, want)
	}
}

func TestLookupDottedKeys(t *testing.T) {
	// how Elasticsearch renders a setting that is also the prefix of others, and cat columns
	doc := decode(t, `{"watermark": {"low": "85%", "low.max_headroom": "200gb",
		"flood_stage": {"frozen": "95%", "frozen.max_headroom": "20GB"}},
		"unassigned.reason": "NODE_LEFT", "a": {"b": null}, "list": [{"x": 1}, {"x": 2}]}`)
	for path, want := range map[string]any{
		"watermark.low":                             "85%",
		"watermark.low.max_headroom":                "200gb",
		"watermark.flood_stage.frozen.max_headroom": "20GB",
		"unassigned.reason":                         "NODE_LEFT",
		"list.1.x":                                  json.Number("2"),
	} {
		got, ok := Lookup(doc, strings.Split(path, "."))
		if !ok || got != want {
			t.Errorf("lookup %s = %v, %v; want %v", path, got, ok, want)
		}
	}
	if v, ok := Lookup(doc, []string{"a", "b"}); !ok || v != nil {
		t.Errorf("a JSON null is present: %v %v", v, ok)
	}
	for _, path := range []string{"watermark.high", "list.2.x", "list.x", "nope"} {
		if _, ok := Lookup(doc, strings.Split(path, ".")); ok {
			t.Errorf("lookup %s: found", path)
		}
	}
}

func TestExtractNestedRows(t *testing.T) {
	q := query(t, `  - name: b
    http:
      path: /_nodes/stats
      rows: nodes.*.breakers.*
      where: ["$key | ne parent"]
      fields:
        cluster: $cluster
        root: $.cluster_name
        node: ^$key
        name: ^name
        master: ^roles | contains master
        client: ^roles | empty
        breaker: $key
        limit: limit_size | bytes
    columns:
      - {name: cluster, usage: label}
      - {name: root, usage: label}
      - {name: node, usage: label}
      - {name: name, usage: label}
      - {name: master, usage: label}
      - {name: client, usage: label}
      - {name: breaker, usage: label}
      - {name: tripped, usage: counter, metric: b_tripped_total}
      - {name: limit, usage: gauge}
`)
	rows := run(t, q, `{"cluster_name": "from-doc", "nodes": {
		"n2": {"name": "coord-1", "roles": [], "breakers": {"request": {"tripped": 0, "limit_size": "1gb"}}},
		"n1": {"name": "data-1", "roles": ["data", "master"], "breakers": {
			"request": {"tripped": 3, "limit_size": "30%"}, "parent": {"tripped": 1}, "fielddata": {"tripped": 7, "limit_size": "512mb"}}}}}`,
		Env{Cluster: "temporal-es"})
	want := [][]any{
		{"temporal-es", "from-doc", "n1", "data-1", true, false, "fielddata", int64(7), float64(512 << 20)},
		{"temporal-es", "from-doc", "n1", "data-1", true, false, "request", int64(3), nil},
		{"temporal-es", "from-doc", "n2", "coord-1", false, true, "request", int64(0), float64(1 << 30)},
	}
	wantValues(t, rows, want)
	if got := strings.Join(rows.Columns, ","); got != "cluster,root,node,name,master,client,breaker,tripped,limit" {
		t.Errorf("columns %s", got)
	}
}

// div divides by another field of the row (or of an outer row, or the root): the used disk
// of a node as a fraction, from bytes rather than cat's whole percent.
func TestExtractDiv(t *testing.T) {
	q := query(t, `  - name: a
    http:
      path: /_cat/allocation
      rows: "*"
      fields:
        used_ratio: disk.used | div disk.total
        share: disk.used | div $.0.disk.total
    columns:
      - {name: node, usage: label}
      - {name: used_ratio, usage: gauge}
      - {name: share, usage: gauge}
`)
	rows := run(t, q, `[
		{"node": "d1", "disk.used": "452", "disk.total": "500", "disk.percent": "90"},
		{"node": "d2", "disk.used": "10", "disk.total": "0"},
		{"node": "UNASSIGNED", "disk.used": null, "disk.total": null}]`, Env{})
	want := [][]any{
		{"d1", 0.904, 0.904},
		{"d2", nil, 0.02},
		{"UNASSIGNED", nil, nil},
	}
	wantValues(t, rows, want)
}

// find picks the element of a list that matches fields of the row, get reads a path in it,
// and sub takes one field from another: pgbackrest info's backups with the PostgreSQL version
// of their database (kept in the stanza's db list) and their duration.
func TestExtractFindAndSub(t *testing.T) {
	q := query(t, `  - name: b
    http:
      path: /x
      rows: "*.backup.*"
      fields:
        label: label
        pg_version: ^db | find id=database.id,repo-key=database.repo-key | get version
        duration: timestamp.stop | sub timestamp.start
    columns:
      - {name: label, usage: label}
      - {name: pg_version, usage: label}
      - {name: duration, usage: gauge}
`)
	rows := run(t, q, `[{"name": "s", "db": [
			{"id": 1, "repo-key": 1, "version": "13"},
			{"id": 2, "repo-key": 1, "version": "15"},
			{"id": 1, "repo-key": 2, "version": "15"}],
		"backup": [
			{"label": "a", "database": {"id": 1, "repo-key": 1}, "timestamp": {"start": 100, "stop": 160}},
			{"label": "b", "database": {"id": 2, "repo-key": 1}, "timestamp": {"start": 200, "stop": 205}},
			{"label": "c", "database": {"id": 1, "repo-key": 2}, "timestamp": {"start": 300}},
			{"label": "d", "database": {"id": 3, "repo-key": 1}, "timestamp": {"start": 1, "stop": 2}}]}]`, Env{})
	want := [][]any{
		{"a", "13", float64(60)},
		{"b", "15", float64(5)},
		{"c", "15", nil},
		{"d", nil, float64(1)},
	}
	wantValues(t, rows, want)
}

// A field that no row has is a rename (or a typo): the query fails loudly, unless the pack
// marks the field optional.
func TestExtractMissingField(t *testing.T) {
	q := query(t, `  - name: m
    http:
      path: /x
      rows: items.*
      fields: {k: $key}
    columns:
      - {name: k, usage: label}
      - {name: size_in_bytes, usage: gauge}
      - {name: "failed_step?", usage: gauge, metric: m_failed}
`)
	p, _ := Compile(q, &q.Body.(*testHTTP).JSON)
	_, err := p.Extract(decode(t, `{"items": {"a": {"size_in_bytes": 1}, "b": {}}}`), Env{})
	if err != nil {
		t.Errorf("one row has it: %v", err)
	}
	_, err = p.Extract(decode(t, `{"items": {"a": {"size": 1}}}`), Env{})
	if err == nil || !strings.Contains(err.Error(), `no row of the answer has "size_in_bytes"`) {
		t.Errorf("renamed field: %v", err)
	}
	if _, err = p.Extract(decode(t, `{"items": {}}`), Env{}); err != nil {
		t.Errorf("no rows is not an error: %v", err)
	}
	if _, err = p.Extract(decode(t, `{"other": {}}`), Env{}); err == nil || !strings.Contains(err.Error(), `no "items"`) {
		t.Errorf("the rows path is missing: %v", err)
	}
	// a column outside the server's version range is not required
	q2 := query(t, `  - name: v
    http: {path: /x, rows: "items.*"}
    columns:
      - {name: new_field, usage: gauge, min_version: 80000}
`)
	p2, _ := Compile(q2, &q2.Body.(*testHTTP).JSON)
	if _, err := p2.Extract(decode(t, `{"items": {"a": {}}}`), Env{Version: 71700}); err != nil {
		t.Errorf("a column of newer versions on 7.17: %v", err)
	}
	if _, err := p2.Extract(decode(t, `{"items": {"a": {}}}`), Env{Version: 80100}); err == nil {
		t.Error("a column of 8.x missing on 8.1 should fail")
	}
}

func TestExtractGroupAndStates(t *testing.T) {
	q := query(t, `  - name: u
    http:
      path: /_cat/shards
      rows: "*"
      where: ["state | eq UNASSIGNED"]
      fields: {reason: unassigned.reason}
      group: {by: [index, reason], count: shards, max: [docs]}
    columns:
      - {name: index, usage: label}
      - {name: reason, usage: label}
      - {name: shards, usage: gauge}
      - {name: docs, usage: gauge}
`)
	rows := run(t, q, `[
		{"index": "a", "state": "STARTED", "unassigned.reason": null, "docs": "5"},
		{"index": "a", "state": "UNASSIGNED", "unassigned.reason": "NODE_LEFT", "docs": "1"},
		{"index": "b", "state": "UNASSIGNED", "unassigned.reason": "ALLOCATION_FAILED", "docs": null},
		{"index": "a", "state": "UNASSIGNED", "unassigned.reason": "NODE_LEFT", "docs": "4"}]`, Env{})
	want := [][]any{{"a", "NODE_LEFT", int64(2), float64(4)}, {"b", "ALLOCATION_FAILED", int64(1), nil}}
	if !reflect.DeepEqual(rows.Values, want) {
		t.Errorf("group: %v, want %v", rows.Values, want)
	}

	s := query(t, `  - name: h
    http:
      path: /_cluster/health
      fields: {cluster: cluster_name}
      states: {column: status, label: color, values: [green, yellow, red]}
    columns:
      - {name: cluster, usage: label}
      - {name: color, usage: label}
      - {name: status, usage: gauge}
`)
	rows = run(t, s, `{"cluster_name": "c", "status": "red"}`, Env{})
	want = [][]any{{"c", "green", int64(0)}, {"c", "yellow", int64(0)}, {"c", "red", int64(1)}}
	if !reflect.DeepEqual(rows.Values, want) {
		t.Errorf("states: %v", rows.Values)
	}
	// a state nobody listed is not invisible
	rows = run(t, s, `{"cluster_name": "c", "status": "unknown"}`, Env{})
	if len(rows.Values) != 4 || !reflect.DeepEqual(rows.Values[3], []any{"c", "unknown", int64(1)}) {
		t.Errorf("unlisted state: %v", rows.Values)
	}
}

func TestFuncs(t *testing.T) {
	now := time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC)
	e := Env{Now: now}
	f := func(name, arg string, v any) any {
		fn := Func{Name: name, Arg: arg}
		if name == "in" {
			fn.Args = strings.Split(arg, ",")
		}
		if name == "truncate" {
			fn.N = 3
		}
		if name == "get" {
			fn.Path = strings.Split(arg, ".")
		}
		if name == "map" {
			fn.Pairs = map[string]string{}
			for _, p := range strings.Split(arg, ",") {
				from, to, _ := strings.Cut(p, "=")
				fn.Pairs[from] = to
			}
		}
		return normalize(apply(fn, v, e))
	}
	for _, tc := range []struct {
		name, arg string
		in, want  any
	}{
		{"ratio", "", "85%", 0.85},
		{"ratio", "", "0.9", 0.9},
		{"ratio", "", json.Number("0.95"), 0.95},
		{"ratio", "", "500mb", nil},
		{"ratio", "", "150%", nil},
		{"bytes", "", "500mb", float64(500 << 20)},
		{"bytes", "", "1.5GB", float64(3 << 29)},
		{"bytes", "", "10b", float64(10)},
		{"bytes", "", "85%", nil},
		{"bytes", "", "0.85", nil},
		{"bytes", "", "-1", nil},
		{"bytes", "", json.Number("42"), float64(42)},
		{"seconds", "", "7.5d", 7.5 * 86400},
		{"seconds", "", "150ms", 0.15},
		{"seconds", "", "30s", float64(30)},
		{"seconds", "", "2m", float64(120)},
		{"seconds", "", "100micros", 1e-4},
		{"seconds", "", "-1", nil},
		{"since", "ms", json.Number("1735689600000"), float64(86400)},
		{"since", "s", "1735776000", float64(0)},
		{"since", "s", "2025-01-01T00:00:00Z", float64(86400)},
		{"since", "ms", nil, nil},
		{"count", "", []any{1, 2}, int64(2)},
		{"count", "", map[string]any{}, int64(0)},
		{"count", "", nil, nil},
		{"exists", "", nil, false},
		{"exists", "", "x", true},
		{"empty", "", []any{}, true},
		{"empty", "", []any{"master"}, false},
		{"not", "", true, false},
		{"join", "", []any{"data", "master"}, "data,master"},
		{"contains", "master", []any{"data", "master"}, true},
		{"contains", "master", []any{"data_hot"}, false},
		{"contains", "master", nil, false},
		{"prefix", "data", []any{"data_hot", "ingest"}, true},
		{"prefix", "data", []any{"ingest"}, false},
		{"eq", "true", "true", true},
		{"eq", "true", true, true},
		{"eq", "ERROR", nil, false},
		{"ne", "ERROR", "complete", true},
		{"in", "search,write", "write", true},
		{"in", "search,write", "get", false},
		{"default", "none", nil, "none"},
		{"default", "none", "x", "x"},
		{"truncate", "3", "abcdef", "abc"},
		{"truncate", "3", "ab", "ab"},
		{"get", "a.b", map[string]any{"a": map[string]any{"b": "x"}}, "x"},
		{"get", "a.c", map[string]any{"a": map[string]any{"b": "x"}}, nil},
		{"get", "a", nil, nil},
		{"map", "true=y,false=n", true, "y"},
		{"map", "true=y,false=n", false, "n"},
		{"map", "true=y,false=n", "maybe", nil},
		{"map", "true=y,false=n", nil, nil},
		{"datetime", "s", json.Number("1795759457"), "2026-11-27 06:04:17"},
		{"datetime", "ms", json.Number("1795759457000"), "2026-11-27 06:04:17"},
		{"datetime", "s", "soon", nil},
	} {
		got := f(tc.name, tc.arg, tc.in)
		if gf, ok := got.(float64); ok {
			if wf, ok := tc.want.(float64); ok && math.Abs(gf-wf) < 1e-9 {
				continue
			}
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %s (%#v) = %#v, want %#v", tc.name, tc.arg, tc.in, got, tc.want)
		}
	}
}

// The field count is what Elasticsearch counts against index.mapping.total_fields.limit:
// objects, leaves, multi-fields, aliases and runtime fields.
func TestMappedFields(t *testing.T) {
	m := decode(t, `{"dynamic": "strict",
		"runtime": {"day": {"type": "keyword"}},
		"properties": {
			"WorkflowId": {"type": "keyword"},
			"Memo": {"type": "object", "enabled": false},
			"Alias": {"type": "alias", "path": "WorkflowId"},
			"SearchAttributes": {"properties": {
				"CustomStringField": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
				"CustomIntField": {"type": "integer"}}}}}`).(map[string]any)
	// WorkflowId, Memo, Alias, SearchAttributes, CustomStringField, raw, CustomIntField, day
	if n := mappedFields(m); n != 8 {
		t.Errorf("mappedFields = %d, want 8", n)
	}
}

func TestNormalizeNumbers(t *testing.T) {
	dec := json.NewDecoder(bytes.NewReader([]byte(`[9007199254740993, 1.5, 1e3]`)))
	dec.UseNumber()
	var v []any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	got := []any{normalize(v[0]), normalize(v[1]), normalize(v[2])}
	want := []any{int64(9007199254740993), 1.5, float64(1000)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
}

func TestGroupLatestAndWAL(t *testing.T) {
	q := query(t, `  - name: b
    http:
      path: /x
      rows: "*.backup.*"
      fields: {stanza: ^name, stop: timestamp.stop, max_wal: archive.stop | wal}
      group: {by: [stanza, type], latest: stop}
    columns:
      - {name: stanza, usage: label}
      - {name: type, usage: label}
      - {name: stop, usage: gauge}
      - {name: info.size, usage: gauge, metric: b_size}
      - {name: max_wal, usage: gauge}
`)
	rows := run(t, q, `[{"name": "main", "backup": [
		{"type": "full", "timestamp": {"stop": 100}, "info": {"size": 10}, "archive": {"stop": "000000010000000000000005"}},
		{"type": "incr", "timestamp": {"stop": 150}, "info": {"size": 1}, "archive": {"stop": "000000010000000000000007"}},
		{"type": "full", "timestamp": {"stop": 200}, "info": {"size": 12}, "archive": {"stop": "00000002000000010000000A"}},
		{"type": "incr", "timestamp": {"stop": 120}, "info": {"size": 3}, "archive": {"stop": "000000010000000000000006"}}]}]`, Env{})
	// the newest row of each type, whole: its own size, not a sum
	want := [][]any{
		{"main", "full", int64(200), int64(12), float64(1<<32 + 10*16<<20)},
		{"main", "incr", int64(150), int64(1), float64(7 * 16 << 20)},
	}
	if !reflect.DeepEqual(rows.Values, want) {
		t.Errorf("latest: %v, want %v", rows.Values, want)
	}
	for in, want := range map[any]any{"000000010000000000000000": float64(0), "short": nil, "0000000100000000ZZZZZZZZ": nil, float64(1): nil} {
		if got := walPosition(in); got != want {
			t.Errorf("walPosition(%v) = %v, want %v", in, got, want)
		}
	}
}

// A discarded column with a field is extracted (the advisor reads it, no metric is made of
// it); one without a field stays empty.
func TestExtractDiscardedFields(t *testing.T) {
	q := query(t, `  - name: d
    http:
      path: /x
      rows: "*.backup.*"
      fields: {stanza: ^name, label: label, archive_stop: "archive.stop? | wal", message: "status.message?"}
    columns:
      - {name: stanza, usage: label}
      - {name: label, usage: discard}
      - {name: archive_stop, usage: discard}
      - {name: message, usage: discard}
      - {name: unread, usage: discard}
`)
	rows := run(t, q, `[{"name": "main", "backup": [
		{"label": "20261205-101010F", "archive": {"stop": "000000010000000000000005"}, "status": {"message": "ok"}, "unread": 1},
		{"label": "20261205-111111F_20261205-121212I"}]}]`, Env{})
	want := [][]any{
		{"main", "20261205-101010F", float64(5 * 16 << 20), "ok", nil},
		{"main", "20261205-111111F_20261205-121212I", nil, nil, nil},
	}
	wantValues(t, rows, want)
}
