package advisor

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var jobsNow = time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC)

func TestNextRun(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		schedule, after, want string // want "" : no verdict
		loc                   *time.Location
	}{
		{"0 0 1 * *", "2026-12-01T00:00:05Z", "2027-01-01T00:00:00Z", nil}, // the seed's create-partition
		{"0 * * * *", "2026-12-05T12:00:30Z", "2026-12-05T13:00:00Z", nil}, // refresh-metrics
		{"0 3 * * *", "2026-12-05T03:10:00Z", "2026-12-06T03:00:00Z", nil}, // cleanup-executions
		{"*/15 * * * *", "2026-12-05T12:59:00Z", "2026-12-05T13:00:00Z", nil},
		{"5/20 8-10 * * *", "2026-12-05T10:45:00Z", "2026-12-06T08:05:00Z", nil},
		{"30 2 * * mon-fri", "2026-12-05T00:00:00Z", "2026-12-07T02:30:00Z", nil}, // Saturday -> Monday
		{"0 0 13 * 5", "2026-12-05T00:00:00Z", "2026-12-11T00:00:00Z", nil},       // the 13th or a Friday
		{"0 0 * * 7", "2026-12-05T00:00:00Z", "2026-12-06T00:00:00Z", nil},        // 7 is Sunday
		{"0 12 1 jan,jul *", "2026-12-05T00:00:00Z", "2027-01-01T12:00:00Z", nil}, // month names
		{"@daily", "2026-12-05T00:00:00Z", "2026-12-06T00:00:00Z", nil},
		{"30 seconds", "2026-12-05T12:00:00Z", "2026-12-05T12:00:30Z", nil},
		{"0 3 * * *", "2026-12-05T09:00:00Z", "2026-12-06T08:00:00Z", ny}, // 3:00 in New York
		{"0 3 $ * *", "2026-12-05T00:00:00Z", "", nil},                    // pg_cron's last day: not read
		{"@reboot", "2026-12-05T00:00:00Z", "", nil},
		{"0 0 30 2 *", "2026-12-05T00:00:00Z", "", nil}, // never
		{"61 * * * *", "2026-12-05T00:00:00Z", "", nil},
		{"90 seconds", "2026-12-05T00:00:00Z", "", nil},
	} {
		loc := tc.loc
		if loc == nil {
			loc = time.UTC
		}
		got, ok := nextRun(tc.schedule, at(tc.after), loc)
		switch {
		case tc.want == "" && ok:
			t.Errorf("nextRun(%q, %s) = %s, want no verdict", tc.schedule, tc.after, got)
		case tc.want != "" && (!ok || !got.Equal(at(tc.want))):
			t.Errorf("nextRun(%q, %s) = %s %v, want %s", tc.schedule, tc.after, got.UTC(), ok, tc.want)
		}
	}
}

func TestCronFindings(t *testing.T) {
	th := DefaultConfig().Thresholds
	ago := func(d time.Duration) time.Time { return jobsNow.Add(-d) }
	jobs := []facts.CronJob{
		// healthy: hourly, succeeded at 12:00; monthly, succeeded on the 1st
		{Name: "refresh-metrics", Active: true, Schedule: "0 * * * *", Timezone: "GMT", Succeeded: 24, LastSuccess: ago(time.Hour)},
		{Name: "create-partition", Active: true, Schedule: "0 0 1 * *", Timezone: "GMT", LastSuccess: time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC)},
		// failed once, then succeeded: warning
		{Name: "cleanup-executions", Active: true, Schedule: "*/5 * * * *", Timezone: "GMT", Failed: 1, Succeeded: 200,
			LastFailure: ago(3 * time.Hour), LastError: "ERROR: canceling statement due to statement timeout", LastSuccess: ago(2 * time.Minute)},
		// keeps failing: critical failures, and late by many runs: critical schedule
		{Name: "vacuum-history", Active: true, Schedule: "0 * * * *", Timezone: "GMT", Failed: 5,
			LastFailure: ago(time.Hour), LastError: "ERROR: relation \"history\" does not exist", LastSuccess: ago(6 * time.Hour)},
		// one run late beyond the grace: warning
		{Name: "daily", Active: true, Schedule: "0 11 * * *", Timezone: "GMT", LastSuccess: ago(26 * time.Hour)},
		// within the grace: nothing
		{Name: "daily-graced", Active: true, Schedule: "0 12 * * *", Timezone: "GMT", LastSuccess: ago(25 * time.Hour)},
		// no verdict: unreadable schedule, never succeeded, inactive
		{Name: "last-day", Active: true, Schedule: "0 3 $ * *", Timezone: "GMT", LastSuccess: ago(90 * 24 * time.Hour)},
		{Name: "new", Active: true, Schedule: "0 * * * *", Timezone: "GMT"},
		{Name: "off", Active: false, Schedule: "0 * * * *", Failed: 3, LastFailure: ago(time.Hour), LastSuccess: ago(48 * time.Hour)},
	}
	got := map[string]Finding{}
	for _, f := range cronFindings("p", jobs, jobsNow, th) {
		got[f.Object] = f
	}
	want := map[string]Severity{
		"cron:cleanup-executions/failures": Warning,
		"cron:vacuum-history/failures":     Critical,
		"cron:vacuum-history/schedule":     Critical,
		"cron:daily/schedule":              Warning,
	}
	for obj, sev := range want {
		f, ok := got[obj]
		if !ok || f.Severity != sev {
			t.Errorf("%s: %v (present %v), want %v", obj, f.Severity, ok, sev)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d findings, want %d: %v", len(got), len(want), got)
	}
	f := got["cron:vacuum-history/failures"]
	if !strings.Contains(f.Summary, `relation "history" does not exist`) || !strings.Contains(f.Summary, "failed 5 times") ||
		!strings.Contains(f.Fix.Text, "jobname = 'vacuum-history'") {
		t.Errorf("failures finding: %+v", f)
	}
	if f := got["cron:daily/schedule"]; !strings.Contains(f.Summary, "due at 2026-12-05T11:00:00Z") {
		t.Errorf("late finding: %s", f.Summary)
	}
}

func TestPartitionFindings(t *testing.T) {
	th := DefaultConfig().Thresholds
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	monthly := func(from, to time.Time) facts.PartitionedTable {
		return facts.PartitionedTable{Relation: facts.Relation{Database: "temporal", Schema: "temporal_visibility", Name: "executions_template"},
			KeyType: "timestamp without time zone", Partitions: 2, Last: "executions_" + from.Format("2006_01"),
			LastFrom: from, LastTo: to, HasLast: true}
	}
	for _, tc := range []struct {
		name string
		p    facts.PartitionedTable
		want Severity // -1: nothing
		fix  string
	}{
		{"four weeks ahead", monthly(day(2026, 12, 1), day(2027, 1, 1)), -1, ""},
		{"ends in 5 days", func() facts.PartitionedTable {
			p := monthly(day(2026, 11, 1), day(2026, 12, 1))
			p.LastTo = day(2026, 12, 10)
			p.LastFrom = day(2026, 11, 10)
			p.Last = "executions_2026_11_10"
			return p
		}(), Warning, "CREATE TABLE temporal_visibility.executions_2026_12_10 PARTITION OF temporal_visibility.executions_template FOR VALUES FROM ('2026-12-10 00:00:00') TO ('2027-01-09 00:00:00');"},
		{"ended", monthly(day(2026, 11, 1), day(2026, 12, 1)), Critical,
			"CREATE TABLE temporal_visibility.executions_2026_12 PARTITION OF temporal_visibility.executions_template FOR VALUES FROM ('2026-12-01 00:00:00') TO ('2027-01-01 00:00:00');"},
		{"ended, with a default partition", func() facts.PartitionedTable {
			p := monthly(day(2026, 11, 1), day(2026, 12, 1))
			p.HasDefault = true
			return p
		}(), Warning, "executions_2026_12 PARTITION OF"},
		{"unbounded", func() facts.PartitionedTable {
			p := monthly(day(2026, 11, 1), day(2026, 12, 1))
			p.Unbounded = true
			return p
		}(), -1, ""},
		{"daily, timestamptz, named after the table", facts.PartitionedTable{Relation: facts.Relation{Schema: "public", Name: "History"},
			KeyType: "timestamp with time zone", Last: "history_p1", LastFrom: day(2026, 12, 5), LastTo: day(2026, 12, 6), HasLast: true},
			Critical, `CREATE TABLE public."History_2026_12_12" PARTITION OF public."History" FOR VALUES FROM ('2026-12-12 00:00:00+00:00') TO ('2026-12-13 00:00:00+00:00');`},
	} {
		fs := partitionFindings("p", []facts.PartitionedTable{tc.p}, jobsNow, th)
		if tc.want < 0 {
			if len(fs) != 0 {
				t.Errorf("%s: %+v", tc.name, fs)
			}
			continue
		}
		if len(fs) != 1 || fs[0].Severity != tc.want || !strings.Contains(fs[0].Fix.Text, tc.fix) {
			t.Errorf("%s: %+v, want %v with %q", tc.name, fs, tc.want, tc.fix)
		}
	}
	// daily partitions are created until the horizon: a week of them
	fs := partitionFindings("p", []facts.PartitionedTable{{Relation: facts.Relation{Schema: "s", Name: "t"}, KeyType: "date",
		Last: "t_2026_12_06", LastFrom: day(2026, 12, 6), LastTo: day(2026, 12, 7), HasLast: true}}, jobsNow, th)
	if len(fs) != 1 || strings.Count(fs[0].Fix.Text, "CREATE TABLE") != 6 || !strings.Contains(fs[0].Fix.Text, "s.t_2026_12_12 PARTITION OF s.t FOR VALUES FROM ('2026-12-12') TO ('2026-12-13');") {
		t.Errorf("daily: %+v", fs)
	}
}

func TestSubscriptionFindings(t *testing.T) {
	th := DefaultConfig().Thresholds
	subs := []facts.Subscription{
		{Name: "healthy", Enabled: true, Workers: 1, HasLag: true, LatestEndAge: 2, HasErrors: true},
		{Name: "disabled", Enabled: false},
		{Name: "down", Enabled: true, Workers: 0, HasErrors: true, ApplyErrors: 4},
		{Name: "starting", Enabled: true, Workers: 0, HasErrors: true},
		{Name: "flapping", Enabled: true, Workers: 1, HasErrors: true, ApplyErrors: 9, HasLag: true},
		{Name: "old-errors", Enabled: true, Workers: 1, HasErrors: true, ApplyErrors: 2, HasLag: true},
		{Name: "behind", Enabled: true, Workers: 1, HasLag: true, LagBytes: 64 << 20, LatestEndAge: 1},
	}
	base := map[string]subscriptionErrors{"flapping": {apply: 3}, "healthy": {}}
	got := map[string]Severity{}
	for _, f := range subscriptionFindings("dr", subs, base, jobsNow.Add(-10*time.Minute), jobsNow, th) {
		got[f.Object] = f.Severity
	}
	want := map[string]Severity{
		"subscription:disabled": Warning, "subscription:down": Critical, "subscription:starting": Warning,
		"subscription:flapping": Critical, "subscription:old-errors": Info, "subscription:behind/lag": Warning,
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	for obj, sev := range want {
		if s, ok := got[obj]; !ok || s != sev {
			t.Errorf("%s: %v (present %v), want %v", obj, s, ok, sev)
		}
	}
}

// A pack that replaces a default query without a column a check reads: the check is skipped
// with a reason naming the query and column, and judges nothing on that target.
func TestJobFactsMissingColumn(t *testing.T) {
	snap := &collector.Snapshot{Target: &collector.Target{Name: "p", Kind: queries.SourcePostgres}, At: jobsNow, Up: true,
		Info: queries.ServerInfo{Version: 150000, Role: queries.RolePrimary}}
	for name, cols := range map[string]string{
		"pg_cron_jobs":          "job job_database active failed succeeded last_failure last_error last_success_any timezone cron_database", // no schedule
		"pg_partitioned_tables": "datname schemaname relname key_type partitions default_partitions unbounded_partitions last_partition last_from last_to",
		"pg_stat_subscription":  "subname workers apply_lag_bytes latest_end_age", // no enabled
	} {
		snap.Results = append(snap.Results, &collector.Result{Query: &queries.Query{Name: name},
			Rows: &queries.Rows{Columns: strings.Fields(cols)}, Started: jobsNow})
	}
	cfg := DefaultConfig()
	rep := Evaluate(facts.FromSnapshots(jobsNow, []*collector.Snapshot{snap}, nil), jobChecks(), &cfg, nil)
	if len(rep.Findings) != 0 {
		t.Errorf("findings %v, want none: the checks cannot read their facts", rep.Findings)
	}
	got := map[string]string{}
	for _, sk := range rep.Skipped {
		got[sk.Check] = sk.Reason
	}
	for check, want := range map[string]string{
		"cron_jobs":             "query pg_cron_jobs has no column schedule",
		"logical_subscriptions": "query pg_stat_subscription has no column enabled",
	} {
		if !strings.Contains(got[check], want) {
			t.Errorf("%s skipped with %q, want a reason naming %q", check, got[check], want)
		}
	}
	if r, ok := got["partition_horizon"]; ok {
		t.Errorf("partition_horizon skipped (%s), but its query has every column", r)
	}
}
