package advisor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var jobCheckIDs = []string{"cron_jobs", "partition_horizon", "logical_subscriptions"}

// jobsRunner builds the advisor's pg_cron, partition and subscription checks over a
// cluster's primary, on a fresh engine (nothing served from an earlier run's cache) that
// shares h with the other runs of the test.
func jobsRunner(t *testing.T, pg *testenv.PGCluster, h *advisor.History, cfg advisor.Config) *advisor.Runner {
	t.Helper()
	logger := testLogger(t)
	target, _ := pgTarget(t, pg.Primary.Name, pg.Primary.DSN("postgres"), defaultSet(t).For(queries.SourcePostgres), logger)
	var checks []advisor.Check
	for _, c := range advisor.DefaultChecks() {
		for _, id := range jobCheckIDs {
			if c.ID() == id {
				checks = append(checks, c)
			}
		}
	}
	if len(checks) != len(jobCheckIDs) {
		t.Fatalf("%d of the checks %v in DefaultChecks", len(checks), jobCheckIDs)
	}
	return withEngine(t, &advisor.Runner{Checks: checks, Config: cfg, History: h}, []*collector.Target{target}, logger)
}

// await polls query (one boolean) on db until it is true.
func await(t *testing.T, c context.Context, s *testenv.PGServer, db, what, query string) {
	t.Helper()
	conn, err := s.Connect(c, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(c)
	if err := waitFor(c, conn, query); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// TestJobChecksOnRealServer: pg_cron jobs, partitioned tables and a logical replication
// subscription (database dr subscribes to a publication of database postgres on the same
// server, the seed's DR shape in one cluster). Healthy, they give nothing at warning; then
// the faults are planted: a job that fails, a job that missed its run, partitions that ran
// out, a subscription whose apply fails, then one disabled.
func TestJobChecksOnRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL (skipped under -short)")
	}
	pg := env.PostgresNamed(t, "jobs", testenv.PGOptions{Conf: []string{"wal_level = logical", "cron.use_background_workers = on",
		"max_worker_processes = 16"}})
	if !pg.HasLib("pg_cron") {
		t.Fatal("pg_cron is not installed: the cron_jobs check cannot be tested")
	}
	c := ctx(t, 4*time.Minute)
	p := pg.Primary
	exec := func(db string, stmts ...string) {
		t.Helper()
		if err := p.Exec(c, db, stmts...); err != nil {
			t.Fatal(err)
		}
	}
	// the failing job first: pg_cron runs it at the next minute, while the rest is set up
	exec("postgres", "CREATE EXTENSION pg_cron",
		"SELECT cron.schedule('refresh-metrics', '0 * * * *', 'SELECT 1')",
		"SELECT cron.schedule('create-partition', '0 0 1 * *', 'SELECT 1')")

	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	m := func(k int) string { return month.AddDate(0, k, 0).Format("2006-01-02") }
	suffix := func(k int) string { return month.AddDate(0, k, 0).Format("2006_01") }
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	d := func(k int) string { return day.AddDate(0, 0, k).Format("2006-01-02") }
	exec("postgres",
		// the seed's executions_template, monthly, this month's and next month's partitions
		"CREATE SCHEMA temporal_visibility",
		"CREATE TABLE temporal_visibility.executions_template (run_id text, start_time timestamp NOT NULL) PARTITION BY RANGE (start_time)",
		fmt.Sprintf("CREATE TABLE temporal_visibility.executions_%s PARTITION OF temporal_visibility.executions_template FOR VALUES FROM ('%s') TO ('%s')", suffix(0), m(0), m(1)),
		fmt.Sprintf("CREATE TABLE temporal_visibility.executions_%s PARTITION OF temporal_visibility.executions_template FOR VALUES FROM ('%s') TO ('%s')", suffix(1), m(1), m(2)),
		// daily timestamptz partitions, a month ahead
		"CREATE TABLE public.history (id bigint, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)",
		fmt.Sprintf("CREATE TABLE public.history_ahead PARTITION OF public.history FOR VALUES FROM ('%s') TO ('%s')", d(0), d(40)),
		// a publication and its subscription in database dr, with a slot made beforehand (a
		// subscription to its own cluster cannot create its slot)
		"CREATE TABLE public.tasks (id int PRIMARY KEY, v text)",
		"CREATE PUBLICATION temporal_pub FOR TABLE public.tasks",
		"SELECT pg_create_logical_replication_slot('temporal_sub', 'pgoutput')",
		"CREATE DATABASE dr",
	)
	exec("dr", "CREATE TABLE public.tasks (id int PRIMARY KEY, v text)",
		fmt.Sprintf("CREATE SUBSCRIPTION temporal_sub CONNECTION 'host=127.0.0.1 port=%d dbname=postgres user=postgres' "+
			"PUBLICATION temporal_pub WITH (create_slot = false, slot_name = 'temporal_sub', copy_data = false)", p.Port))
	await(t, c, p, "postgres", "the subscription's apply worker",
		"SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 'temporal_sub' AND pid IS NOT NULL AND relid IS NULL")
	exec("postgres", "INSERT INTO public.tasks VALUES (1, 'replicated')")
	await(t, c, p, "dr", "the first row replicated", "SELECT count(*) = 1 FROM public.tasks")

	h := advisor.NewHistory()
	var runWith func(advisor.Config) *advisor.Report
	run := func() *advisor.Report {
		t.Helper()
		return runWith(advisor.DefaultConfig())
	}
	runWith = func(cfg advisor.Config) *advisor.Report {
		t.Helper()
		rep := jobsRunner(t, pg, h, cfg).Run(c)
		for _, s := range rep.Skipped {
			t.Errorf("%s skipped %s: %s", s.Check, s.Target, s.Reason)
		}
		for _, f := range rep.Findings {
			if f.Object == "facts" {
				t.Errorf("%s cannot read its facts: %s", f.Check, f.Summary)
			}
		}
		return rep
	}

	rep := run()
	if rep.MaxSeverity() >= advisor.Warning {
		t.Fatalf("the healthy setup has findings:\n%s", dump(rep))
	}

	// faults
	exec("postgres",
		"SELECT cron.schedule('vacuum-history', '* * * * *', 'SELECT 1/0')",
		// an hourly job whose last success pg_cron recorded four hours ago (should it run
		// at the top of an hour during the test, it fails: its last success stays that one)
		"SELECT cron.schedule('cleanup-executions', '0 * * * *', 'SELECT 1/0')",
		`INSERT INTO cron.job_run_details (jobid, database, username, command, status, return_message, start_time, end_time)
		 SELECT jobid, 'postgres', 'postgres', command, 'succeeded', 'SELECT 1', now() - interval '4 hours', now() - interval '4 hours' + interval '1 second'
		 FROM cron.job WHERE jobname = 'cleanup-executions'`,
		// the seed's table whose create-partition job stopped two months ago
		"CREATE TABLE temporal_visibility.visibility_template (run_id text, start_time timestamp NOT NULL) PARTITION BY RANGE (start_time)",
		fmt.Sprintf("CREATE TABLE temporal_visibility.visibility_%s PARTITION OF temporal_visibility.visibility_template FOR VALUES FROM ('%s') TO ('%s')", suffix(-2), m(-2), m(-1)),
		// the same with a DEFAULT partition: no INSERT fails, rows pile up there
		"CREATE TABLE public.events (id int, at date NOT NULL) PARTITION BY RANGE (at)",
		fmt.Sprintf("CREATE TABLE public.events_%s PARTITION OF public.events FOR VALUES FROM ('%s') TO ('%s')", suffix(-2), m(-2), m(-1)),
		"CREATE TABLE public.events_default PARTITION OF public.events DEFAULT",
		// daily partitions that end in three days
		"CREATE TABLE public.timers (id int, fire_at timestamptz NOT NULL) PARTITION BY RANGE (fire_at)",
		fmt.Sprintf("CREATE TABLE public.timers_%s PARTITION OF public.timers FOR VALUES FROM ('%s') TO ('%s')",
			day.AddDate(0, 0, 2).Format("2006_01_02"), d(2), d(3)),
	)
	// the past partition's range is gone: an insert for now fails, as the finding says
	if err := p.Exec(c, "postgres", "INSERT INTO temporal_visibility.visibility_template VALUES ('r', now())"); err == nil ||
		!strings.Contains(err.Error(), "no partition of relation") {
		t.Fatalf("an INSERT past the partitions: %v", err)
	}
	// a row the subscriber already has: applying the publisher's insert fails, again and again
	exec("dr", "INSERT INTO public.tasks VALUES (2, 'subscriber''s own')")
	exec("postgres", "INSERT INTO public.tasks VALUES (2, 'conflicts')")
	await(t, c, p, "postgres", "an apply error", "SELECT apply_error_count > 0 FROM pg_stat_subscription_stats WHERE subname = 'temporal_sub'")
	await(t, c, p, "postgres", "the failing job's run", "SELECT count(*) > 0 FROM cron.job_run_details WHERE status = 'failed'")

	rep = run()
	find := func(rep *advisor.Report, check, object string, sev advisor.Severity) *advisor.Finding {
		t.Helper()
		f := has(rep, check, object)
		if f == nil || f.Severity != sev {
			t.Errorf("want %s %s on %s:\n%s", sev, check, object, dump(rep))
			return &advisor.Finding{}
		}
		return f
	}
	ev := func(f *advisor.Finding) map[string]string {
		out := map[string]string{}
		for _, e := range f.Evidence {
			out[e.Name] = e.Value
		}
		return out
	}

	f := has(rep, "cron_jobs", "cron:vacuum-history/failures") // warning; critical from the third failure
	if f == nil {
		t.Fatalf("no failing job:\n%s", dump(rep))
	}
	if e := ev(f); !strings.Contains(e["last error"], "division by zero") || !strings.Contains(f.Fix.Text, "jobname = 'vacuum-history'") || f.Fix.Database != "postgres" {
		t.Errorf("failing job: %s %v %s", f.Summary, f.Evidence, f.Fix.Text)
	}
	f = find(rep, "cron_jobs", "cron:cleanup-executions/schedule", advisor.Critical) // two hourly runs missed
	if !strings.Contains(f.Summary, "has not succeeded since") || ev(f)["schedule"] != "0 * * * * (GMT)" {
		t.Errorf("late job: %s %v", f.Summary, f.Evidence)
	}

	f = find(rep, "partition_horizon", "partitions:postgres/temporal_visibility.visibility_template", advisor.Critical)
	want := fmt.Sprintf("CREATE TABLE temporal_visibility.visibility_%s PARTITION OF temporal_visibility.visibility_template FOR VALUES FROM ('%s 00:00:00') TO ('%s 00:00:00');",
		suffix(-1), m(-1), m(0))
	if !strings.HasPrefix(f.Fix.Text, want) || f.Fix.Database != "postgres" {
		t.Errorf("partition fix:\n%s\nwant it to start with\n%s", f.Fix.Text, want)
	}
	find(rep, "partition_horizon", "partitions:postgres/public.events", advisor.Warning) // critical, less one for the DEFAULT partition
	find(rep, "partition_horizon", "partitions:postgres/public.timers", advisor.Warning)

	f = find(rep, "logical_subscriptions", "subscription:temporal_sub", advisor.Critical)
	if !strings.Contains(f.Summary, "erroring") {
		t.Errorf("subscription: %s %v", f.Summary, f.Evidence)
	}
	for _, f := range rep.Findings {
		if strings.Contains(f.Object, "executions_template") || strings.Contains(f.Object, "public.history") || strings.Contains(f.Object, "refresh-metrics") {
			t.Errorf("a finding on a healthy object: %s %s: %s", f.Check, f.Object, f.Summary)
		}
	}

	// the fix works: run it, and the finding is gone; fix the subscriber's conflict, then
	// disable the subscription
	partitionFix := has(rep, "partition_horizon", "partitions:postgres/temporal_visibility.visibility_template").Fix.Text
	exec("postgres", partitionFix, "INSERT INTO temporal_visibility.visibility_template VALUES ('r', now())")
	exec("dr", "DELETE FROM public.tasks WHERE id = 2")
	await(t, c, p, "dr", "the conflicting row applied", "SELECT count(*) = 1 FROM public.tasks WHERE v = 'conflicts'")
	// the subscriber's table locked: the apply worker waits, and confirms nothing
	lock, err := p.Connect(c, "dr")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Exec(c, "BEGIN; LOCK TABLE public.tasks IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	exec("postgres", "INSERT INTO public.tasks VALUES (3, 'waits')")
	await(t, c, p, "postgres", "the apply worker stalled", "SELECT extract(epoch FROM now() - latest_end_time) > 3 FROM pg_stat_subscription "+
		"WHERE subname = 'temporal_sub' AND relid IS NULL")
	cfg := advisor.DefaultConfig()
	cfg.Thresholds.SubscriptionLag = 3 * time.Second
	rep = runWith(cfg)
	find(rep, "logical_subscriptions", "subscription:temporal_sub/lag", advisor.Warning)
	if err := lock.Close(c); err != nil { // ends the transaction and its lock
		t.Fatal(err)
	}
	await(t, c, p, "dr", "the waiting row applied", "SELECT count(*) = 1 FROM public.tasks WHERE id = 3")
	exec("dr", "ALTER SUBSCRIPTION temporal_sub DISABLE")
	await(t, c, p, "postgres", "the apply worker gone",
		"SELECT count(*) = 0 FROM pg_stat_subscription WHERE subname = 'temporal_sub' AND pid IS NOT NULL")
	rep = run()
	if f := has(rep, "partition_horizon", "partitions:postgres/temporal_visibility.visibility_template"); f != nil {
		t.Errorf("the partitions the fix created did not clear the finding: %s", f.Summary)
	}
	f = find(rep, "logical_subscriptions", "subscription:temporal_sub", advisor.Warning)
	if !strings.Contains(f.Summary, "disabled") || f.Fix.Text != "ALTER SUBSCRIPTION temporal_sub ENABLE;" {
		t.Errorf("disabled subscription: %s %s", f.Summary, f.Fix.Text)
	}
}
