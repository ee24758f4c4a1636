package advisor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The checks are pure functions of facts: these tests give them facts that a real server
// cannot be brought into quickly (two billion transactions, a broken replica) and check the
// edges of their rules.

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// snapshot is the facts of targets built directly: a target is up unless it says why it is
// down, PostgreSQL 17 unless it says otherwise, and joins the cluster of its system
// identifier.
func snapshot(at time.Time, targets ...*facts.Target) *facts.Snapshot {
	for _, t := range targets {
		t.Up = t.Down == ""
		if t.Kind == "" {
			t.Kind = queries.SourcePostgres
		}
		if t.Version == 0 && t.Kind == queries.SourcePostgres {
			t.Version = 170000
		}
	}
	s := &facts.Snapshot{At: at, Targets: targets}
	s.Group()
	return s
}

// pg is a PostgreSQL target with the facts given.
func pg(name string, role queries.Role, f facts.PostgresFacts) *facts.Target {
	return &facts.Target{Name: name, Role: role, PostgresFacts: f}
}

// settings are pg_settings with the values given (name, value, ...).
func settings(kv ...any) map[string]facts.Setting {
	m := map[string]facts.Setting{}
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		m[name] = facts.Setting{Name: name, Type: "integer", Source: "default", Value: kv[i+1].(float64), IsNumber: true}
	}
	return m
}

// started is when the servers of the tests started: 30 days before now.
var started = now.Add(-30 * 24 * time.Hour)

func evaluate(t *testing.T, s *facts.Snapshot, cfg advisor.Config, h *advisor.History, check string) []advisor.Finding {
	t.Helper()
	var checks []advisor.Check
	for _, c := range advisor.DefaultChecks() {
		if c.ID() == check {
			checks = append(checks, c)
		}
	}
	if len(checks) != 1 {
		t.Fatalf("no check %q", check)
	}
	return advisor.Evaluate(s, checks, &cfg, h).Findings
}

func TestWraparound(t *testing.T) {
	for _, tc := range []struct {
		xid, mxid float64
		want      []advisor.Severity
	}{
		{xid: 150e6, mxid: 1e6},                                 // below autovacuum_freeze_max_age
		{xid: 250e6, want: []advisor.Severity{advisor.Warning}}, // past it: anti-wraparound vacuums are not keeping up
		{xid: 1.6e9, want: []advisor.Severity{advisor.Critical}},
		{xid: 1e6, mxid: 500e6, want: []advisor.Severity{advisor.Warning}}, // multixacts have their own limit
	} {
		s := snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{
			Databases: []facts.Database{{Name: "temporal", SizeBytes: 1e9, FrozenXIDAge: tc.xid, MinMXIDAge: tc.mxid}},
			Settings:  settings("autovacuum_freeze_max_age", 200e6, "autovacuum_multixact_freeze_max_age", 400e6),
		}))
		fs := evaluate(t, s, advisor.DefaultConfig(), nil, "xid_wraparound")
		if len(fs) != len(tc.want) {
			t.Fatalf("xid age %g, mxid age %g: %d findings, want %d", tc.xid, tc.mxid, len(fs), len(tc.want))
		}
		for i, f := range fs {
			if f.Severity != tc.want[i] || f.Object != "database:temporal" || f.Fix.Text != "VACUUM (FREEZE, VERBOSE);" || f.Fix.Database != "temporal" {
				t.Errorf("xid age %g: %+v", tc.xid, f)
			}
		}
	}
}

func TestConnections(t *testing.T) {
	for used, want := range map[float64]string{50: "", 80: "warning", 95: "critical"} {
		s := snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{
			Connections: &facts.Connections{Used: used, Max: 103, Reserved: 3},
		}))
		fs := evaluate(t, s, advisor.DefaultConfig(), nil, "connections")
		got := ""
		if len(fs) == 1 {
			got = fs[0].Severity.String()
		}
		if got != want || len(fs) > 1 {
			t.Errorf("%g of 100 usable slots: %q (%d findings), want %q", used, got, len(fs), want)
		}
	}
}

func TestReplicaNotStreaming(t *testing.T) {
	recovery := func(streaming bool) facts.PostgresFacts {
		return facts.PostgresFacts{Recovery: &facts.Recovery{LastReplaySeconds: 5, Streaming: streaming}}
	}
	s := snapshot(now, pg("r1", queries.RoleReplica, recovery(false)), pg("r2", queries.RoleReplica, recovery(true)))
	fs := evaluate(t, s, advisor.DefaultConfig(), nil, "replica_not_streaming")
	if len(fs) != 1 || fs[0].Target != "r1" || fs[0].Severity != advisor.Critical {
		t.Fatalf("want one critical finding on r1, got %+v", fs)
	}
}

func TestReplicaLagWithoutPrimary(t *testing.T) {
	// only the replica is watched: its own view of the lag is reported
	s := snapshot(now, pg("r1", queries.RoleReplica, facts.PostgresFacts{
		Recovery: &facts.Recovery{ReplayLagBytes: 5 << 20, LagSeconds: 2, LastReplaySeconds: 2, Streaming: true},
	}))
	fs := evaluate(t, s, advisor.DefaultConfig(), nil, "replication_lag")
	if len(fs) != 1 || fs[0].Object != "replay" || fs[0].Severity != advisor.Warning {
		t.Fatalf("want one warning on the replica's replay, got %+v", fs)
	}
	// 200 MiB is more than 100 times the 1 MiB threshold
	s = snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{Standbys: []facts.Standby{
		{Name: "replica1", ClientAddr: "10.0.0.2", State: "streaming", SyncState: "async", Slot: "replica1", ReplayLagBytes: 200 << 20, ReplayLagSeconds: 3},
		{Name: "replica2", ClientAddr: "10.0.0.3", State: "streaming", SyncState: "async", Slot: "replica2", ReplayLagBytes: 1000, ReplayLagSeconds: 0.1},
	}}))
	fs = evaluate(t, s, advisor.DefaultConfig(), nil, "replication_lag")
	if len(fs) != 1 || fs[0].Object != "replica:replica1" || fs[0].Severity != advisor.Critical {
		t.Fatalf("want one critical finding on replica1, got %+v", fs)
	}
}

func TestSplitBrain(t *testing.T) {
	// pg_system and pg_replication of a server: its system identifier, whether it is in
	// recovery, and its timeline (0: not reported)
	server := func(name string, role queries.Role, id string, timeline int, cluster string) *facts.Target {
		f := facts.PostgresFacts{StartTime: started, Timeline: timeline, HasTimeline: timeline > 0}
		if role == queries.RoleReplica {
			f.Recovery = &facts.Recovery{}
		}
		t := pg(name, role, f)
		t.SystemID, t.Cluster = id, cluster
		return t
	}
	const id = "7712767019546798259"
	for _, tc := range []struct {
		name    string
		servers []*facts.Target
		want    string // the target of the finding, "" for none
	}{
		{"a primary and its replica", []*facts.Target{server("primary", queries.RolePrimary, id, 1, ""), server("replica1", queries.RoleReplica, id, 1, "")}, ""},
		{"two clusters", []*facts.Target{server("a", queries.RolePrimary, id, 1, ""), server("b", queries.RolePrimary, "42", 1, "")}, ""},
		{"a promoted replica", []*facts.Target{server("primary", queries.RolePrimary, id, 1, ""), server("replica1", queries.RolePrimary, id, 2, "")}, "primary"},
		{"the old primary listed second", []*facts.Target{server("pg-b", queries.RolePrimary, id, 3, ""), server("pg-a", queries.RolePrimary, id, 2, "")}, "pg-a"},
		{"timelines unknown", []*facts.Target{server("primary", queries.RolePrimary, id, 0, ""), server("replica1", queries.RolePrimary, id, 0, "")}, "primary"},
		{"configured in one cluster", []*facts.Target{server("primary", queries.RolePrimary, id, 1, "temporal"), server("replica1", queries.RolePrimary, id, 2, "temporal")}, "primary"},
		{"one configured, one not", []*facts.Target{server("primary", queries.RolePrimary, id, 1, "temporal"), server("replica1", queries.RolePrimary, id, 2, "")}, "primary"},
		// a restore of a backup keeps the system identifier: a deliberate copy, declared apart
		{"configured in different clusters", []*facts.Target{server("prod", queries.RolePrimary, id, 1, "prod"), server("staging", queries.RolePrimary, id, 2, "staging")}, ""},
	} {
		fs := evaluate(t, snapshot(now, tc.servers...), advisor.DefaultConfig(), nil, "split_brain")
		if tc.want == "" {
			if len(fs) != 0 {
				t.Errorf("%s: want no finding, got %+v", tc.name, fs)
			}
			continue
		}
		if len(fs) != 1 {
			t.Errorf("%s: want one finding, got %+v", tc.name, fs)
			continue
		}
		f := fs[0]
		if f.Severity != advisor.Critical || f.Target != tc.want || f.Object != "primaries" {
			t.Errorf("%s: want a critical finding on %s, got %+v", tc.name, tc.want, f)
		}
		ev := map[string]string{}
		for _, e := range f.Evidence {
			ev[e.Name] = e.Value
		}
		if ev["system identifier"] != id {
			t.Errorf("%s: evidence %v lacks the system identifier", tc.name, f.Evidence)
		}
		for _, s := range tc.servers {
			if !strings.Contains(f.Summary, s.Name) || !strings.Contains(ev[s.Name], "role primary") {
				t.Errorf("%s: summary %q or evidence %v does not name %s as a primary", tc.name, f.Summary, f.Evidence, s.Name)
			}
		}
		for _, want := range []string{"pg_ctl stop", "pgbouncer", "pg_rewind", "standby.signal"} {
			if !strings.Contains(f.Fix.Text, want) {
				t.Errorf("%s: the fix does not say %s:\n%s", tc.name, want, f.Fix.Text)
			}
		}
		if !strings.Contains(f.Fix.Why, "Never let both take writes") {
			t.Errorf("%s: why %q", tc.name, f.Fix.Why)
		}
	}

	// the evidence and the fix tell the old primary from the new by their timelines
	fs := evaluate(t, snapshot(now, server("primary", queries.RolePrimary, id, 1, ""), server("replica1", queries.RolePrimary, id, 2, "")),
		advisor.DefaultConfig(), nil, "split_brain")
	if len(fs) != 1 {
		t.Fatalf("want one finding, got %+v", fs)
	}
	want := []advisor.Evidence{{Name: "system identifier", Value: id},
		{Name: "primary", Value: "role primary (not in recovery), timeline 1"},
		{Name: "replica1", Value: "role primary (not in recovery), timeline 2"}}
	if fmt.Sprint(fs[0].Evidence) != fmt.Sprint(want) {
		t.Errorf("evidence %v, want %v", fs[0].Evidence, want)
	}
	if !strings.HasPrefix(fs[0].Fix.Text, "1. Keep replica1, promoted last (timeline 2); the old primary is primary.") {
		t.Errorf("fix %q: want replica1 kept", fs[0].Fix.Text)
	}
	fs = evaluate(t, snapshot(now, server("primary", queries.RolePrimary, id, 0, ""), server("replica1", queries.RolePrimary, id, 0, "")),
		advisor.DefaultConfig(), nil, "split_brain")
	if len(fs) != 1 || !strings.Contains(fs[0].Fix.Text, "the timelines do not tell") {
		t.Errorf("without timelines the fix must not pick a primary: %+v", fs)
	}
}

// index is a valid index of table public.t in database temporal.
func index(name string, scans float64, unique bool, size float64) facts.Index {
	return facts.Index{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: name}, Table: "t",
		Scans: scans, Unique: unique, Valid: true, SizeBytes: size}
}

// member is a server of cluster 42 started 30 days ago, with the indexes given.
func member(name string, role queries.Role, f facts.PostgresFacts) *facts.Target {
	f.StartTime = started
	t := pg(name, role, f)
	t.SystemID = "42"
	return t
}

func TestUnusedIndexCountsReplicas(t *testing.T) {
	primary := func() *facts.Target {
		return member("p", queries.RolePrimary, facts.PostgresFacts{
			Indexes: []facts.Index{index("t_a", 0, false, 50e6), index("t_u", 0, true, 50e6), index("t_small", 0, false, 8192)}})
	}
	members := func(replicaScans float64) *facts.Snapshot {
		return snapshot(now, primary(), member("r", queries.RoleReplica, facts.PostgresFacts{
			Indexes: []facts.Index{index("t_a", replicaScans, false, 50e6), index("t_u", 0, true, 50e6), index("t_small", 0, false, 8192)}}))
	}
	cfg := advisor.DefaultConfig()
	fs := evaluate(t, members(0), cfg, nil, "unused_index")
	// the unique index enforces something; the small one is below unused_index_min_size
	if len(fs) != 1 || fs[0].Object != "public.t_a" || fs[0].Fix.Text != "DROP INDEX CONCURRENTLY public.t_a;" {
		t.Fatalf("want t_a unused, got %+v", fs)
	}
	if fs[0].Window == nil || fs[0].Window.To.Sub(fs[0].Window.From) != 30*24*time.Hour {
		t.Errorf("window %+v, want the 30 days since the servers started", fs[0].Window)
	}
	if fs := evaluate(t, members(7), cfg, nil, "unused_index"); len(fs) != 0 {
		t.Errorf("an index the replica scans is used: %+v", fs)
	}
	cfg.Thresholds.UnusedIndexMinWindow = 31 * 24 * time.Hour
	if fs := evaluate(t, members(0), cfg, nil, "unused_index"); len(fs) != 0 {
		t.Errorf("30 days of statistics are less than the minimum window of 31: %+v", fs)
	}
	// a member that did not report: no verdict
	s := snapshot(now, primary(), &facts.Target{Name: "r", Role: queries.RoleReplica, Down: "connection refused"})
	if fs := evaluate(t, s, advisor.DefaultConfig(), nil, "unused_index"); len(fs) != 0 {
		t.Errorf("a down replica may be the one using the index: %+v", fs)
	}
}

// indexDef is a valid index of table public.t: its name, key columns, whether it is unique,
// its predicate and its method.
func indexDef(name, columns string, unique bool, predicate, method string) facts.IndexDef {
	return facts.IndexDef{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: name}, Table: "t",
		Method: method, Columns: strings.Split(columns, ","), Options: "0 0 0", Opclasses: "1 1 1", Collations: "0 0 0",
		Predicate: predicate, Unique: unique, Valid: true}
}

func TestRedundantIndexRules(t *testing.T) {
	s := snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{IndexDefs: []facts.IndexDef{
		indexDef("ab", "a,b", false, "", "btree"),
		indexDef("a", "a", false, "", "btree"),              // a left prefix of ab: redundant
		indexDef("a_partial", "a", false, "b > 0", "btree"), // another predicate: not
		indexDef("a_unique", "a", true, "", "btree"),        // enforces uniqueness: not
		indexDef("b", "b", false, "", "btree"),              // not a prefix: not
		indexDef("ab_hash", "a", false, "", "hash"),         // another method: not
		indexDef("ab2", "a,b", false, "", "btree"),          // a duplicate of ab: one finding
	}}))
	fs := evaluate(t, s, advisor.DefaultConfig(), nil, "redundant_index")
	var got []string
	for _, f := range fs {
		got = append(got, f.Object)
	}
	if strings.Join(got, " ") != "public.a public.ab2" {
		t.Errorf("redundant: %v, want public.a and public.ab2", got)
	}
	// the same index names on a table of another schema: found there too
	other := func(d facts.IndexDef) facts.IndexDef { d.Schema = "archive"; return d }
	s = snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{IndexDefs: []facts.IndexDef{
		indexDef("ab", "a,b", false, "", "btree"), indexDef("a", "a", false, "", "btree"),
		other(indexDef("ab", "a,b", false, "", "btree")), other(indexDef("a", "a", false, "", "btree")),
	}}))
	got = nil
	for _, f := range evaluate(t, s, advisor.DefaultConfig(), nil, "redundant_index") {
		got = append(got, f.Object)
	}
	if strings.Join(got, " ") != "archive.a public.a" {
		t.Errorf("redundant in two schemas: %v, want archive.a and public.a", got)
	}
}

// statements is primary p with one statement's totals.
func statements(calls, seconds float64) *facts.Target {
	return pg("p", queries.RolePrimary, facts.PostgresFacts{Statements: []facts.Statement{{QueryID: "11", Database: "temporal",
		User: "app", Text: "SELECT * FROM executions WHERE namespace_id = $1", Calls: calls, Seconds: seconds}}})
}

// TestSlowQueryWindow: with an earlier sample, the mean is computed over the change between
// samples, not over the totals since the last reset.
func TestSlowQueryWindow(t *testing.T) {
	h := advisor.NewHistory()
	cfg := advisor.DefaultConfig()
	// a statement slow long ago: 10 calls of 5 s
	first := snapshot(now, statements(10, 50))
	fs := evaluate(t, first, cfg, h, "slow_query")
	if len(fs) != 1 || fs[0].Window.Basis != "totals since pg_stat_statements was reset" {
		t.Fatalf("first run, from totals: %+v", fs)
	}
	h.Record(first, time.Hour)
	// the same result again (cached): still the totals
	again := snapshot(now.Add(time.Minute), statements(10, 50))
	if fs := evaluate(t, again, cfg, h, "slow_query"); len(fs) != 1 {
		t.Fatalf("an unchanged sample hides nothing: %+v", fs)
	}
	// since then, 1000 fast calls: 1000 calls in 10 s, 10 ms each
	later := snapshot(now.Add(10*time.Minute), statements(1010, 60))
	if fs := evaluate(t, later, cfg, h, "slow_query"); len(fs) != 0 {
		t.Errorf("the statement got fast; the window shows it: %+v", fs)
	}
	// and then slow again: 5 calls of 2 s; with a 15 minute window the baseline is the
	// sample of 10 minutes ago
	h.Record(later, time.Hour)
	cfg.Thresholds.SlowQueryWindow = 15 * time.Minute
	slow := snapshot(now.Add(20*time.Minute), statements(1015, 70))
	fs = evaluate(t, slow, cfg, h, "slow_query")
	if len(fs) != 1 {
		t.Fatalf("slow again over the window: %+v", fs)
	}
	if calls, mean := evidence(fs[0], "calls"), evidence(fs[0], "mean"); calls != "5" || mean != "2.0 s" {
		t.Errorf("calls %q, mean %q in the window; want 5 and 2.0 s", calls, mean)
	}
	if fs[0].Window.Basis != "change between two samples of pg_stat_statements" || !fs[0].Window.From.Equal(now.Add(10*time.Minute)) {
		t.Errorf("window %+v", fs[0].Window)
	}
}

func TestSkippedWithReason(t *testing.T) {
	// the reasons come from the gather: FromSnapshots reads them off the collector's snapshots
	info := queries.ServerInfo{Version: 170000, Role: queries.RolePrimary}
	s := facts.FromSnapshots(now, []*collector.Snapshot{
		{Target: &collector.Target{Name: "p", Kind: queries.SourcePostgres}, At: now, Up: true, Info: info},
		{Target: &collector.Target{Name: "gone", Kind: queries.SourcePostgres}, At: now, Info: info, ProbeErr: errors.New("connection refused")},
	}, nil)
	cfg := advisor.DefaultConfig()
	rep := advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, nil)
	reasons := map[string]string{}
	for _, sk := range rep.Skipped {
		reasons[sk.Check+"/"+sk.Target] = sk.Reason
	}
	if r := reasons["slow_query/p"]; r != "query pg_stat_statements_advisor is not in the loaded packs" {
		t.Errorf("slow_query on p skipped because %q", r)
	}
	if r := reasons["connections/gone"]; !strings.Contains(r, "down") || !strings.Contains(r, "connection refused") {
		t.Errorf("connections on gone skipped because %q", r)
	}
	if len(rep.Findings) != 0 {
		t.Errorf("findings without facts: %+v", rep.Findings)
	}
}

func TestMaxFindingsPerCheck(t *testing.T) {
	var list []facts.Index
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		list = append(list, index("t_"+n, 0, false, 2e6))
	}
	s := snapshot(now, member("p", queries.RolePrimary, facts.PostgresFacts{Indexes: list}))
	cfg := advisor.DefaultConfig()
	cfg.MaxFindingsPerCheck = 2
	var checks []advisor.Check
	for _, c := range advisor.DefaultChecks() {
		if c.ID() == "unused_index" {
			checks = append(checks, c)
		}
	}
	rep := advisor.Evaluate(s, checks, &cfg, nil)
	if len(rep.Findings) != 2 || rep.Checks[0].Omitted != 3 {
		t.Errorf("%d findings, %d omitted; want 2 and 3", len(rep.Findings), rep.Checks[0].Omitted)
	}
}

// TestSurfaces checks the report's JSON field names (docs/advisor.md documents them: a change
// here is a change of schema_version), the metrics, and that every format carries the fix.
func TestSurfaces(t *testing.T) {
	s := snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{
		Connections: &facts.Connections{Used: 99, Max: 103, Reserved: 3},
		Databases:   []facts.Database{{Name: "a<b>", SizeBytes: 1, FrozenXIDAge: 1.7e9}},
		Settings:    settings("autovacuum_freeze_max_age", 200e6, "autovacuum_multixact_freeze_max_age", 400e6),
	}))
	cfg := advisor.DefaultConfig()
	rep := advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, nil)
	if rep.MaxSeverity() != advisor.Critical {
		t.Fatalf("max severity %s", rep.MaxSeverity())
	}
	var b bytes.Buffer
	if err := advisor.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["schema_version"] != 1.0 {
		t.Errorf("schema_version %v", doc["schema_version"])
	}
	for _, k := range []string{"generated_at", "duration_seconds", "targets", "findings", "skipped", "checks"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("the report lacks %q", k)
		}
	}
	var empty bytes.Buffer
	if err := advisor.WriteJSON(&empty, &advisor.Report{SchemaVersion: advisor.SchemaVersion}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"targets", "findings", "skipped", "checks"} {
		if !strings.Contains(empty.String(), `"`+k+`": []`) {
			t.Errorf("an empty report's %s is not []: %s", k, empty.String())
		}
	}
	f := doc["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "check", "severity", "target", "object", "summary", "evidence", "fix"} {
		if _, ok := f[k]; !ok {
			t.Errorf("a finding lacks %q: %v", k, f)
		}
	}
	fix := f["fix"].(map[string]any)
	for _, k := range []string{"kind", "text", "why"} {
		if _, ok := fix[k]; !ok {
			t.Errorf("a fix lacks %q: %v", k, fix)
		}
	}
	if f["severity"] != "critical" {
		t.Errorf("severity %v", f["severity"])
	}

	for name, write := range map[string]func(*bytes.Buffer) error{
		"text":     func(b *bytes.Buffer) error { return advisor.WriteText(b, rep) },
		"markdown": func(b *bytes.Buffer) error { return advisor.WriteMarkdown(b, rep) },
		"html":     func(b *bytes.Buffer) error { return advisor.WriteHTML(b, rep) },
	} {
		var out bytes.Buffer
		if err := write(&out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"VACUUM (FREEZE, VERBOSE);", "xid_wraparound", "connections"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if name == "html" && (strings.Contains(out.String(), "database:a<b>") || !strings.Contains(out.String(), "database:a&lt;b&gt;")) {
			t.Errorf("html does not escape names")
		}
	}
}

func TestUnusedIndexWithUnwatchedReplica(t *testing.T) {
	s := snapshot(now, member("p", queries.RolePrimary, facts.PostgresFacts{
		Indexes:  []facts.Index{index("t_a", 0, false, 50e6)},
		Standbys: []facts.Standby{{Name: "replica1", Slot: "replica1"}, {Name: "dr", Slot: "dr_sub"}},
		Slots:    []facts.Slot{{Name: "replica1", Type: "physical", Active: true}, {Name: "dr_sub", Type: "logical", Active: true}},
	}))
	fs := evaluate(t, s, advisor.DefaultConfig(), nil, "unused_index")
	if len(fs) != 1 || fs[0].Severity != advisor.Info || evidence(fs[0], "replicas streaming from the primary") != "replica1 (0 watched)" {
		t.Fatalf("a replica no one watches may scan the index: want info, got %+v", fs)
	}
	// the logical subscriber alone does not count
	s = snapshot(now, member("p", queries.RolePrimary, facts.PostgresFacts{
		Indexes:  []facts.Index{index("t_a", 0, false, 50e6)},
		Standbys: []facts.Standby{{Name: "dr", Slot: "dr_sub"}},
		Slots:    []facts.Slot{{Name: "dr_sub", Type: "logical", Active: true}},
	}))
	if fs := evaluate(t, s, advisor.DefaultConfig(), nil, "unused_index"); len(fs) != 1 || fs[0].Severity != advisor.Warning {
		t.Fatalf("want a warning, got %+v", fs)
	}
}

// TestSettingsProfile: a setting that differs gets its ALTER SYSTEM; a profile entry the
// server has no setting for, or whose value is no number for a numeric setting, is said, and
// never turned into an ALTER SYSTEM.
func TestSettingsProfile(t *testing.T) {
	s := snapshot(now, pg("p", queries.RolePrimary, facts.PostgresFacts{
		Settings: settings("shared_buffers", float64(128<<20), "work_mem", float64(4<<20), "max_connections", 100.0),
	}))
	cfg := advisor.DefaultConfig()
	cfg.Profile = map[string]string{"shared_buffers": "4GB", "shard_buffers": "4GB", "work_mem": "lots", "max_connections": "100"}
	fs := evaluate(t, s, cfg, nil, "settings_profile")
	if len(fs) != 1 {
		t.Fatalf("%d findings, want 1: %+v", len(fs), fs)
	}
	f := fs[0]
	if f.Summary != "1 settings differ from the deployment's profile; 2 profile entries do not apply" {
		t.Errorf("summary %q", f.Summary)
	}
	if got := evidence(f, "shard_buffers"); !strings.Contains(got, "not a setting of this server") {
		t.Errorf("shard_buffers: %q", got)
	}
	if got := evidence(f, "work_mem"); !strings.Contains(got, `"lots" is not a number`) {
		t.Errorf("work_mem: %q", got)
	}
	if evidence(f, "max_connections") != "" {
		t.Errorf("max_connections equals the profile, yet: %q", evidence(f, "max_connections"))
	}
	if !strings.Contains(f.Fix.Text, "ALTER SYSTEM SET shared_buffers = '4GB';") || strings.Contains(f.Fix.Text, "work_mem") || strings.Contains(f.Fix.Text, "shard_buffers") {
		t.Errorf("fix:\n%s", f.Fix.Text)
	}

	cfg.Profile = map[string]string{"shard_buffers": "4GB"}
	fs = evaluate(t, s, cfg, nil, "settings_profile")
	if len(fs) != 1 || !strings.HasPrefix(fs[0].Fix.Text, "-- nothing to change on the server") {
		t.Errorf("only a typo in the profile: %+v", fs)
	}
}

// TestSummaryWithTargetsDown: a report over targets that did not answer must not read as a
// clean one.
func TestSummaryWithTargetsDown(t *testing.T) {
	for _, tc := range []struct {
		targets []advisor.TargetState
		want    string
	}{
		{[]advisor.TargetState{{Name: "p", Up: false}}, "0 critical, 0 warning, 0 info findings on 1 targets; no target answered, so nothing was checked"},
		{[]advisor.TargetState{{Name: "p", Up: true}, {Name: "r", Up: false}}, "0 critical, 0 warning, 0 info findings on 2 targets (1 down, not checked: r)"},
		{[]advisor.TargetState{{Name: "p", Up: true}}, "0 critical, 0 warning, 0 info findings on 1 targets\n"},
	} {
		var b bytes.Buffer
		if err := advisor.WriteText(&b, &advisor.Report{Targets: tc.targets}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("text report lacks %q:\n%s", tc.want, b.String())
		}
	}
}
