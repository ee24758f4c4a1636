package queries

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

func mustParse(t *testing.T, name, text string) *Pack {
	t.Helper()
	p, err := Parse(name, []byte(text), testKinds())
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

// mustParseFile parses the pack in a file.
func mustParseFile(t *testing.T, file string) *Pack {
	t.Helper()
	data := testenv.ReadFile(t, file)
	return mustParse(t, file, string(data))
}

func TestParseNative(t *testing.T) {
	p := mustParse(t, "good.yaml", `source: postgres
queries:
  - name: q
    help: Things.
    ttl: 1m
    timeout: 3s
    roles: [replica]
    requires: [extension:pg_stat_statements]
    variants:
      - max_version: 170000
        sql: SELECT 1 AS a, 'x' AS l
      - min_version: 170000
        sql: SELECT 2 AS a, 'y' AS l
    columns:
      - {name: l, usage: label}
      - {name: a, usage: counter, metric: things_total, scale: 0.001}
      - {name: b, usage: gauge, min_version: 160000}
      - {name: c, usage: discard}
`)
	q := p.Queries[0]
	if q.TTL != time.Minute || q.Timeout != 3*time.Second || q.Line != 3 || q.File != "good.yaml" {
		t.Errorf("ttl %s timeout %s at %s:%d", q.TTL, q.Timeout, q.File, q.Line)
	}
	if strings.Join(q.Labels, ",") != "l" {
		t.Errorf("labels %v", q.Labels)
	}
	if len(q.Metrics) != 2 {
		t.Fatalf("metrics %+v", q.Metrics)
	}
	a, b := q.Metrics[0], q.Metrics[1]
	if a.Name != "things_total" || a.Type != Counter || a.Scale != 0.001 || a.Help != "Things." {
		t.Errorf("metric a = %+v", a)
	}
	if b.Name != "q_b" || b.Type != Gauge || b.Scale != 1 || b.InVersion(150000) || !b.InVersion(160000) {
		t.Errorf("metric b = %+v", b)
	}
}

func TestCounterWithoutTotalIsUntyped(t *testing.T) {
	p := mustParse(t, "p.yaml", `queries:
  - name: pg_stat_database
    help: h
    sql: SELECT 1 AS xact_commit
    columns: [{name: xact_commit, usage: counter}]
`)
	if m := p.Queries[0].Metrics[0]; m.Name != "pg_stat_database_xact_commit" || m.Type != Untyped {
		t.Errorf("metric %+v: want the established name, untyped", m)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"unknown usage", `queries:
  - name: q
    sql: SELECT 1 AS c
    columns:
      - name: c
        usage: gauage
`, []string{`bad.yaml:6: query "q": column "c": unknown usage "gauage" (want label, counter, gauge, discard, mapped or duration)`}},
		{"unknown key", `queries:
  - name: q
    sqll: SELECT 1
    columns: [{name: c, usage: gauge}]
`, []string{`bad.yaml:3: unknown key "sqll" in queries[0] (did you mean "sql"?)`}},
		{"wrong type", `queries:
  - name: q
    sql: SELECT 1 AS c
    ttl: soon
    columns: [{name: c, usage: gauge}]
`, []string{`bad.yaml:4: queries[0].ttl: invalid value "soon": want a duration such as 30s or 5m`}},
		{"syntax", "queries:\n\t- name: q\n", []string{`bad.yaml:2: found character that cannot start any token`}},
		{"no statement", `queries:
  - name: q
    columns: [{name: c, usage: gauge}]
`, []string{`bad.yaml:2: query "q": needs sql or variants`}},
		{"overlapping variants and reserved label", `queries:
  - name: q
    variants:
      - {max_version: 170000, sql: SELECT 1}
      - {min_version: 160000, sql: SELECT 2}
    columns:
      - {name: target, usage: label}
      - {name: c, usage: gauge}
`, []string{
			`bad.yaml:5: query "q": variant 1 overlaps variant 0, which has no requires and so always wins: make the version ranges disjoint`,
			`bad.yaml:7: query "q": label "target" is reserved: the exporter adds it to every series`,
		}},
		{"bad role, requirement, duplicate metric", `queries:
  - name: q
    sql: SELECT 1
    roles: [leader]
    requires: [plugin:x]
    columns:
      - {name: a, usage: gauge, metric: m}
      - {name: b, usage: gauge, metric: m}
`, []string{
			`bad.yaml:4: query "q": unknown role "leader" (want primary, replica or sentinel)`,
			`bad.yaml:5: query "q": unknown requirement "plugin:x" (want extension:NAME or feature:NAME, optionally with >=, >, <=, < or = and a version)`,
			`bad.yaml:8: query "q": metric "m" is produced by two columns (allowed only for disjoint version ranges)`,
		}},
		{"compat bad usage", `q:
  query: SELECT 1 AS c
  metrics:
    - c:
        usage: "GUAGE"
        description: x
`, []string{`bad.yaml:5: query "q": column "c": unknown usage "GUAGE" (want LABEL, COUNTER, GAUGE, MAPPEDMETRIC, DURATION or DISCARD)`}},
		{"compat histogram and unknown key", `q:
  query: SELECT 1 AS c
  querry: typo
  metrics:
    - c:
        usage: "HISTOGRAM"
`, []string{`bad.yaml:3: unknown key "querry" in q (did you mean "query"?)`}},
		{"empty", "", []string{`bad.yaml: the pack is empty`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.text), testKinds())
			if err == nil {
				t.Fatal("no error")
			}
			if got := strings.Split(err.Error(), "\n"); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCompatSeedBlock(t *testing.T) {
	p := mustParseFile(t, "testdata/seed_custom_queries.yaml")
	q := p.Queries[0]
	if q.Name != "temporal_metrics" || !strings.Contains(q.Body.(string), "FROM pg_stat_user_tables") || !q.ExportUnlisted {
		t.Errorf("query %+v", q)
	}
	if strings.Join(q.Labels, ",") != "schemaname,tablename" {
		t.Errorf("labels %v", q.Labels)
	}
	got := map[string]MetricType{}
	for _, m := range q.Metrics {
		got[m.Name] = m.Type
	}
	want := map[string]MetricType{
		"temporal_metrics_inserts": Untyped, "temporal_metrics_updates": Untyped, "temporal_metrics_deletes": Untyped,
		"temporal_metrics_live_tuples": Gauge, "temporal_metrics_dead_tuples": Gauge,
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	for n, ty := range want {
		if got[n] != ty {
			t.Errorf("%s: %v, want %v", n, got[n], ty)
		}
	}
}

func TestCompatFeatures(t *testing.T) {
	p := mustParseFile(t, "testdata/postgres_exporter_style.yaml")
	if len(p.Queries) != 2 || p.Queries[0].Name != "pg_replication_state" {
		t.Fatalf("queries %v (want the file's order)", p.Queries)
	}
	q := p.Queries[0]
	if q.TTL != 30*time.Second || q.MinVersion != 100000 || q.MaxVersion != 190000 {
		t.Errorf("ttl %s, versions [%d, %d)", q.TTL, q.MinVersion, q.MaxVersion)
	}
	byName := map[string]Metric{}
	for _, m := range q.Metrics {
		byName[m.Name] = m
	}
	if m := byName["pg_replication_state_state"]; m.Mapping["streaming"] != 3 {
		t.Errorf("mapped metric %+v", m)
	}
	if m := byName["pg_replication_state_lag_text_milliseconds"]; !m.Milliseconds {
		t.Errorf("duration metric %+v (all: %v)", m, byName)
	}
	if _, ok := byName["pg_replication_state_sync_state"]; ok {
		t.Error("a DISCARD column became a metric")
	}
	if m := p.Queries[1].Metrics[0]; m.MinVersion != 130000 || m.MaxVersion != 0 {
		t.Errorf("pg_version range [%d, %d)", m.MinVersion, m.MaxVersion)
	}
}

func TestSemverRange(t *testing.T) {
	for in, want := range map[string][2]int{
		">=10.0.0":         {100000, 0},
		"<13.0.0":          {0, 130000},
		">=9.6.0 <10.0.0":  {90600, 100000},
		"13.4.0":           {130004, 130005},
		">15.0.0 <=17.2.0": {150001, 170003},
	} {
		lo, hi, err := parseSemverRange(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("%q: [%d, %d) %v, want [%d, %d)", in, lo, hi, err, want[0], want[1])
		}
	}
	for _, bad := range []string{"~1.2", ">=ten", "^13"} {
		if _, _, err := parseSemverRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPlan(t *testing.T) {
	p := mustParse(t, "p.yaml", `queries:
  - name: q
    roles: [primary]
    requires: [extension:pg_stat_statements]
    min_version: 130000
    variants:
      - {max_version: 170000, sql: SELECT old}
      - {min_version: 170000, sql: SELECT new}
    columns: [{name: c, usage: gauge}]
`)
	q := p.Queries[0]
	pss := map[string]string{"extension:pg_stat_statements": "1.10"}
	for _, tc := range []struct {
		info          ServerInfo
		sql, skip     string
		missingLength int
	}{
		{ServerInfo{Version: 150004, Role: RolePrimary, Features: pss}, "SELECT old", "", 0},
		{ServerInfo{Version: 170000, Role: RolePrimary, Features: pss}, "SELECT new", "", 0},
		{ServerInfo{Version: 120000, Role: RolePrimary, Features: pss}, "", "server version 120000 is outside [130000, ∞)", 0},
		{ServerInfo{Version: 150004, Role: RoleReplica, Features: pss}, "", "runs only on primary, server is replica", 0},
		{ServerInfo{Version: 150004, Role: RolePrimary}, "", "server lacks extension:pg_stat_statements", 1},
	} {
		body, skip, missing := q.Plan(tc.info)
		sql := ""
		if body != nil {
			sql = body.(string)
		}
		if sql != tc.sql || skip != tc.skip || len(missing) != tc.missingLength {
			t.Errorf("%+v: sql %q skip %q missing %v; want %q %q", tc.info, sql, skip, missing, tc.sql, tc.skip)
		}
	}
}

func TestSetReplacesAndChecks(t *testing.T) {
	def := mustParse(t, "default.yaml", `queries:
  - {name: a, help: A, sql: SELECT 1 AS v, columns: [{name: v, usage: gauge}]}
  - {name: b, help: B, sql: SELECT 1 AS v, columns: [{name: v, usage: gauge}]}
`)
	user := mustParse(t, "user.yaml", `queries:
  - {name: a, help: mine, sql: SELECT 2 AS v, columns: [{name: v, usage: gauge}]}
`)
	set, err := NewSet([]*Pack{def}, []*Pack{user})
	if err != nil {
		t.Fatal(err)
	}
	qs := set.For(SourcePostgres)
	if len(qs) != 2 || qs[0].Name != "b" || qs[1].Name != "a" || qs[1].File != "user.yaml" {
		t.Errorf("queries %v", qs)
	}
	if len(set.Replaced) != 1 || set.Replaced[0].Default.File != "default.yaml" {
		t.Errorf("replaced %+v", set.Replaced)
	}

	dup := mustParse(t, "dup.yaml", `queries:
  - {name: a, help: again, sql: SELECT 3 AS v, columns: [{name: v, usage: gauge}]}
`)
	if _, err := NewSet(nil, []*Pack{user, dup}); err == nil || err.Error() != `dup.yaml:2: query "a" is already defined at user.yaml:2` {
		t.Errorf("two user queries named a: %v", err)
	}

	clash := mustParse(t, "clash.yaml", `queries:
  - {name: c, help: C, sql: SELECT 1 AS v, columns: [{name: v, usage: counter, metric: a_v}]}
`)
	// a user query's metric replaces the default query's of the same name, whatever its type
	set, err = NewSet([]*Pack{def}, []*Pack{clash})
	if err != nil {
		t.Fatalf("a user metric named as a default one: %v", err)
	}
	if len(set.Shadowed) != 1 || set.Shadowed[0].Metric != "a_v" || set.Shadowed[0].Default.Name != "a" || set.Shadowed[0].By.Name != "c" {
		t.Errorf("shadowed %+v", set.Shadowed)
	}
	for _, q := range set.For(SourcePostgres) {
		if q.Name == "a" && len(q.Metrics) != 0 {
			t.Errorf("the default query a still produces %v", q.Metrics)
		}
	}
	if len(def.Queries[0].Metrics) != 1 {
		t.Error("shadowing changed the default pack itself")
	}
	// between user queries, a metric must keep one type
	mine := mustParse(t, "mine.yaml", `queries:
  - {name: d, help: D, sql: SELECT 1 AS v, columns: [{name: v, usage: gauge, metric: a_v}]}
`)
	if _, err := NewSet([]*Pack{def}, []*Pack{mine, clash}); err == nil || !strings.Contains(err.Error(), `clash.yaml:2: query "c": metric "a_v" is a untyped here but a gauge in query "d"`) {
		t.Errorf("a metric with two types: %v", err)
	}
}

func TestRequirements(t *testing.T) {
	f := map[string]string{"extension:pg_stat_statements": "1.10", "extension:pg_cron": "1.4-1", "feature:x": ""}
	for req, want := range map[string]bool{
		"extension:pg_stat_statements":       true,
		"extension:pg_stat_statements>=1.8":  true,
		"extension:pg_stat_statements>=1.11": false, // numeric, not string, comparison
		"extension:pg_stat_statements<1.11":  true,
		"extension:pg_stat_statements=1.10":  true,
		"extension:pg_stat_statements>1.10":  false,
		"extension:pg_stat_statements<=1.9":  false,
		"extension:hypopg":                   false,
		"extension:pg_cron>=1.4":             true,
		"feature:x":                          true,
	} {
		if got := Satisfies(f, req); got != want {
			t.Errorf("Satisfies(%q) = %v, want %v", req, got, want)
		}
	}
	for bad, msg := range map[string]string{
		"extension:":           "unknown requirement",
		"extension:x>=":        "is not a version",
		"extension:x>=new":     "is not a version",
		"settings:track=on":    "unknown requirement",
		"extension:pg_cron>=1": "",
	} {
		if got := checkRequirement(bad); (msg == "" && got != "") || !strings.Contains(got, msg) {
			t.Errorf("checkRequirement(%q) = %q, want it to say %q", bad, got, msg)
		}
	}
}

func TestVariantsByExtensionVersion(t *testing.T) {
	p := mustParse(t, "p.yaml", `queries:
  - name: q
    help: h
    requires: [extension:pg_stat_statements]
    variants:
      - {requires: ["extension:pg_stat_statements>=1.11"], sql: SELECT new}
      - {requires: ["extension:pg_stat_statements>=1.8"], sql: SELECT mid}
      - {sql: SELECT old}
    columns: [{name: c, usage: gauge}]
`)
	q := p.Queries[0]
	for ext, want := range map[string]string{"1.12": "SELECT new", "1.11": "SELECT new", "1.10": "SELECT mid", "1.8": "SELECT mid", "1.7": "SELECT old"} {
		body, skip, _ := q.Plan(ServerInfo{Version: 170000, Features: map[string]string{"extension:pg_stat_statements": ext}})
		if body == nil || body.(string) != want {
			t.Errorf("extension %s: %+v %q, want %q", ext, body, skip, want)
		}
	}
	// a variant after one without requires that covers the same versions is unreachable
	_, err := Parse("bad.yaml", []byte(`queries:
  - name: q
    variants:
      - {sql: always}
      - {requires: [extension:x], sql: never}
    columns: [{name: c, usage: gauge}]
`), testKinds())
	if err == nil || !strings.Contains(err.Error(), "variant 1 overlaps variant 0, which has no requires") {
		t.Errorf("unreachable variant: %v", err)
	}
}

func TestExposedType(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   MetricType
		want MetricType
	}{
		{"pg_stat_statements_calls_total", Counter, Counter},
		{"pg_stat_database_xact_commit", Counter, Untyped},
		{"pg_stat_activity_count", Gauge, Untyped},
		{"pg_locks_count", Gauge, Untyped},
		{"x_sum", Gauge, Untyped},
		{"x_bucket", Gauge, Untyped},
		{"pg_up", Gauge, Gauge},
		{"pg_database_size_bytes", Gauge, Gauge},
	} {
		if got := ExposedType(tc.name, tc.in); got != tc.want {
			t.Errorf("ExposedType(%s, %v) = %v, want %v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestMetricNameAndTopValidation(t *testing.T) {
	mn := &MetricName{Prefix: "pgbouncer_", Map: map[string]string{"dns_names": "cached_dns_names"}}
	for in, want := range map[string]string{"databases": "pgbouncer_databases", "dns_names": "pgbouncer_cached_dns_names", "": "", "bad name": ""} {
		if got := mn.For(in); got != want {
			t.Errorf("For(%q) = %q, want %q", in, got, want)
		}
	}
	_, err := Parse("bad.yaml", []byte(`queries:
  - name: q
    sql: SELECT 1
    top: {n: 0, by: label}
    metric_name: {column: v}
    scope: cluster
    columns:
      - {name: label, usage: label}
      - {name: v, usage: gauge}
      - {name: w, usage: gauge}
`), testKinds())
	want := []string{
		`bad.yaml:4: query "q": top.n must be at least 1`,
		`bad.yaml:4: query "q": top.by "label" is not a value column of the query`,
		`bad.yaml:5: query "q": metric_name.column "v" must be a column of usage discard`,
		`bad.yaml:5: query "q": a query with metric_name has exactly one value column, not 2`,
		`bad.yaml:6: query "q": unknown scope "cluster" (want server or database)`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("errors:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}

// top.pushdown is for the kinds whose statements take the cap as a parameter.
func TestTopPushdownValidation(t *testing.T) {
	_, err := Parse("bad.yaml", []byte(`source: redis
queries:
  - name: q
    redis: {command: [INFO]}
    top: {n: 2, by: v, pushdown: true}
    columns:
      - {name: l, usage: label}
      - {name: v, usage: gauge}
`), testKinds())
	want := `bad.yaml:5: query "q": top.pushdown is only for postgres queries`
	if err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	p, err := Parse("good.yaml", []byte(`queries:
  - name: q
    sql: SELECT l, v FROM t ORDER BY v DESC LIMIT $1
    top: {n: 2, by: v, pushdown: true}
    columns:
      - {name: l, usage: label}
      - {name: v, usage: gauge}
`), testKinds())
	if err != nil || !p.Queries[0].PushesDownTop() {
		t.Errorf("a postgres query with top.pushdown: %v", err)
	}
}

// A table grown from no capacity keeps every value, nulls included.
func TestTableGrows(t *testing.T) {
	tb := NewTable([]Kind{KindInt, KindString}, 0)
	for i := range 10000 {
		if i%7 == 3 {
			tb.Null(0)
		} else {
			tb.Int(0, int64(i))
		}
		tb.String(1, string(rune('a'+i%26)))
		tb.EndRow()
	}
	r := tb.Rows([]string{"i", "s"})
	for i := range 10000 {
		want := any(int64(i))
		if i%7 == 3 {
			want = nil
		}
		if got := r.Value(i, 0); got != want {
			t.Fatalf("row %d: %v, want %v", i, got, want)
		}
		if got, _ := r.Text(i, 1); got != string(rune('a'+i%26)) {
			t.Fatalf("row %d: text %q", i, got)
		}
	}
}

func TestTable(t *testing.T) {
	tb := NewTable([]Kind{KindInt, KindString, KindFloat, KindTime, KindBool, KindAny}, 2)
	tb.Int(0, 7)
	tb.String(1, "a")
	tb.Float(2, 1.5)
	tb.Int(3, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	tb.Int(4, 1)
	tb.Any(5, "x")
	tb.EndRow()
	tb.Null(0)
	tb.String(1, "b")
	tb.Null(2)
	tb.Null(3)
	tb.Int(4, 0)
	tb.Any(5, nil)
	tb.EndRow()
	tb.Int(0, 9)
	tb.String(1, "c")
	tb.Float(2, 3)
	tb.Null(3)
	tb.Int(4, 1)
	tb.Any(5, int64(4))
	tb.EndRow()
	r := tb.Rows([]string{"i", "s", "f", "t", "b", "a"})
	want := [][]any{
		{int64(7), "a", 1.5, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), true, "x"},
		{nil, "b", nil, nil, false, nil},
		{int64(9), "c", 3.0, nil, true, int64(4)},
	}
	check := func(r *Rows, want [][]any) {
		t.Helper()
		if r.Len() != len(want) {
			t.Fatalf("%d rows, want %d", r.Len(), len(want))
		}
		for i := range want {
			for j := range want[i] {
				if got := r.Value(i, j); got != want[i][j] {
					t.Errorf("row %d column %s: %#v, want %#v", i, r.Columns[j], got, want[i][j])
				}
			}
		}
	}
	check(r, want)
	// the unboxed accessors agree with Value
	for i := range want {
		for j := range want[i] {
			s, isText := r.Text(i, j)
			if ws, ok := want[i][j].(string); ok != isText || s != ws {
				t.Errorf("Text(%d, %s) = %q %v, want %q %v", i, r.Columns[j], s, isText, ws, ok)
			}
			tm, isTime := r.Time(i, j)
			if wt, ok := want[i][j].(time.Time); ok != isTime || !tm.Equal(wt) {
				t.Errorf("Time(%d, %s) = %v %v, want %v %v", i, r.Columns[j], tm, isTime, wt, ok)
			}
		}
	}
	if v, ok := r.Number(0, 3); !ok || v != 1704067200 {
		t.Errorf("Number of a time: %v %v", v, ok)
	}
	if _, ok := r.Number(1, 0); ok {
		t.Error("Number of a null")
	}
	if _, ok := r.Number(0, 1); ok {
		t.Error("Number of a string")
	}
	for _, tc := range []struct {
		i, j int
		want string
		ok   bool
	}{{0, 1, "a", true}, {2, 1, "c", true}, {0, 5, "x", true}, {1, 5, "", false}, {0, 0, "", false}} {
		if got, ok := r.Text(tc.i, tc.j); got != tc.want || ok != tc.ok {
			t.Errorf("Text(%d, %d) = %q, %v, want %q, %v", tc.i, tc.j, got, ok, tc.want, tc.ok)
		}
	}
	// appending a table of the same kinds, then dropping rows in place
	o := NewTable([]Kind{KindInt, KindString, KindFloat, KindTime, KindBool, KindAny}, 0)
	o.Int(0, 11)
	o.String(1, "d")
	o.Float(2, 4)
	o.Null(3)
	o.Int(4, 0)
	o.Any(5, true)
	o.EndRow()
	r.Append(o.Rows(r.Columns))
	r.Keep(func(i int) bool { return i != 1 })
	check(r, [][]any{want[0], want[2], {int64(11), "d", 4.0, nil, false, true}})
	// a table meets rows of other kinds: both become row-major, values intact
	rowMajor := &Rows{Columns: r.Columns, Values: [][]any{{"not an int", "e", nil, nil, nil, nil}}}
	r.Append(rowMajor)
	if r.Len() != 4 || r.Value(3, 0) != "not an int" || r.Value(0, 0) != int64(7) {
		t.Errorf("mixed append: %d rows, %v, %v", r.Len(), r.Value(3, 0), r.Value(0, 0))
	}
}

// testKinds are kinds for the loader's tests: sql bodies that the postgres kind would check
// (collector/postgres, which imports this package), and a kind with the sentinel role.
func testKinds() SourceKinds {
	return SourceKinds{
		{Name: SourcePostgres, BodyKey: "sql", Scopes: []string{ScopeDatabase}, TopPushdown: true,
			NewBody: func() any { return new(string) },
			Compile: func(body any, _ *Query) (Body, []Problem) { return *body.(*string), nil }},
		{Name: SourceRedis, BodyKey: "redis", Roles: []Role{RoleSentinel},
			NewBody: func() any { return new(map[string]any) },
			Compile: func(body any, _ *Query) (Body, []Problem) { return body, nil }},
	}
}
