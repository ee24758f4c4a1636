package advisor_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// backupRunner builds the advisor's backup checks over pgBackRest targets of the repository
// (one per stanza) and, when withPG, the repository's PostgreSQL primary with the queries the
// checks read of it.
func backupRunner(t *testing.T, b *testenv.Pgbackrest, withPG bool, cfg advisor.Config, stanzas ...string) *advisor.Runner {
	t.Helper()
	set := defaultSet(t)
	logger := testLogger(t)
	var targets []*collector.Target
	if withPG {
		var qs []*queries.Query
		for _, q := range set.For(queries.SourcePostgres) {
			if slices.Contains([]string{"pg_system", "pg_stat_archiver", "pg_wal_position"}, q.Name) {
				qs = append(qs, q)
			}
		}
		target, _ := pgTarget(t, b.PG.Primary.Name, b.PG.Primary.DSN("postgres"), qs, logger)
		targets = append(targets, target)
	}
	for _, stanza := range stanzas {
		src, err := pgbackrest.New(pgbackrest.Options{Command: []string{testenv.PgbackrestBin}, Config: b.Config, Stanza: stanza})
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, &collector.Target{Name: "backups-" + stanza, Kind: queries.SourcePgbackrest, UpMetric: "pgbackrest_up",
			Source: src, Queries: set.For(queries.SourcePgbackrest), Timeout: time.Minute, Parallel: 2})
	}
	var checks []advisor.Check
	for _, c := range advisor.DefaultChecks() {
		if strings.HasPrefix(c.ID(), "backup_") {
			checks = append(checks, c)
		}
	}
	if len(checks) != 5 {
		t.Fatalf("%d backup checks in DefaultChecks, want 5", len(checks))
	}
	return withEngine(t, &advisor.Runner{Checks: checks, Config: cfg, History: advisor.NewHistory()}, targets, logger)
}

// backupRun runs the runner and fails on any skip: every target must answer every query.
func backupRun(t *testing.T, r *advisor.Runner) *advisor.Report {
	t.Helper()
	rep := r.Run(ctx(t, 2*time.Minute))
	for _, s := range rep.Skipped {
		t.Errorf("%s skipped %s: %s", s.Check, s.Target, s.Reason)
	}
	for _, ts := range rep.Targets {
		if !ts.Up {
			t.Fatalf("target %s is down: %s", ts.Name, ts.Error)
		}
	}
	return rep
}

// has finds the finding of a check on an object.
func has(rep *advisor.Report, check, object string) *advisor.Finding {
	for i, f := range rep.Findings {
		if f.Check == check && f.Object == object {
			return &rep.Findings[i]
		}
	}
	return nil
}

func dump(rep *advisor.Report) string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Severity.String()+" "+f.Check+" "+f.Target+" "+f.Object+": "+f.Summary)
	}
	return strings.Join(out, "\n")
}

// TestBackupChecksOnRealRepository: a primary archiving into a pgBackRest repository that
// holds a full, a differential and an incremental backup taken just now. Healthy, it gives
// nothing at warning or above; then faults are planted one at a time.
func TestBackupChecksOnRealRepository(t *testing.T) {
	// a repository of its own, as the test breaks its archiving; it stops after the runners'
	// sources close (cleanups run last-in first-out)
	b := testenv.StartPgbackrestT(t, testenv.PGOptions{})
	c := ctx(t, 3*time.Minute)

	t.Run("healthy", func(t *testing.T) {
		rep := backupRun(t, backupRunner(t, b, true, advisor.DefaultConfig(), b.Stanza))
		if rep.MaxSeverity() >= advisor.Warning {
			t.Errorf("a fresh repository with all three types of backup has findings:\n%s", dump(rep))
		}
		if len(rep.Checks) != 5 {
			t.Errorf("%d checks ran", len(rep.Checks))
		}
	})

	t.Run("late", func(t *testing.T) {
		// an incremental backup is due every nanosecond: the one taken seconds ago is late
		cfg := advisor.DefaultConfig()
		cfg.Thresholds.BackupIncrPeriod, cfg.Thresholds.BackupGrace = time.Nanosecond, 0
		rep := backupRun(t, backupRunner(t, b, true, cfg, b.Stanza))
		f := has(rep, "backup_recovery_point", "stanza:temporal/incr")
		if f == nil || f.Severity != advisor.Critical || f.Fix.Text != "pgbackrest --stanza=temporal --type=incr backup" {
			t.Fatalf("no late incremental backup:\n%s", dump(rep))
		}
		if len(rep.Findings) != 1 {
			t.Errorf("findings beyond the late incremental:\n%s", dump(rep))
		}
		ev := map[string]string{}
		for _, e := range f.Evidence {
			ev[e.Name] = e.Value
		}
		for _, typ := range []string{"full", "differential", "incremental"} {
			if !strings.Contains(ev["newest "+typ], " ago)") {
				t.Errorf("evidence lacks the newest %s backup: %v", typ, f.Evidence)
			}
		}
	})

	t.Run("unmatched", func(t *testing.T) {
		// the backups watched without their cluster
		var sysid string
		conn, err := b.PG.Primary.Connect(c, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(c)
		if err := conn.QueryRow(c, "SELECT system_identifier::text FROM pg_control_system()").Scan(&sysid); err != nil {
			t.Fatal(err)
		}
		rep := backupRun(t, backupRunner(t, b, false, advisor.DefaultConfig(), b.Stanza))
		f := has(rep, "backup_stanza_unmatched", "stanza:temporal/system_identifier")
		if f == nil || f.Severity != advisor.Warning || !strings.Contains(f.Evidence[0].Value, sysid) {
			t.Fatalf("no unmatched stanza for system identifier %s:\n%s", sysid, dump(rep))
		}
		if rep.MaxSeverity() > advisor.Warning {
			t.Errorf("critical findings:\n%s", dump(rep))
		}
	})

	t.Run("missing stanza", func(t *testing.T) {
		// a stanza the repository does not hold: pgbackrest answers with its status
		rep := backupRun(t, backupRunner(t, b, true, advisor.DefaultConfig(), b.Stanza, "nosuch"))
		f := has(rep, "backup_repo_status", "stanza:nosuch/status")
		if f == nil || f.Severity != advisor.Critical || f.Target != "backups-nosuch" {
			t.Fatalf("no finding on the missing stanza:\n%s", dump(rep))
		}
		for _, f := range rep.Findings {
			if !strings.HasPrefix(f.Object, "stanza:nosuch/") { // its status, and its repository's
				t.Errorf("finding beyond the stanza's status: %s %s %s", f.Check, f.Target, f.Object)
			}
		}
	})

	t.Run("archiving fails", func(t *testing.T) {
		p := b.PG.Primary
		if err := p.Exec(c, "postgres", "ALTER SYSTEM SET archive_command = 'false'", "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
		// the reload reaches the archiver asynchronously: switch segments until one fails
		conn, err := p.Connect(c, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(c)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			var failed int64
			if err := conn.QueryRow(c, "SELECT failed_count FROM pg_stat_archiver").Scan(&failed); err != nil {
				t.Fatal(err)
			}
			if failed > 0 {
				break
			}
			if i%10 == 0 { // a segment with something in it to archive
				if _, err := conn.Exec(c, "CREATE TABLE IF NOT EXISTS wal_filler AS SELECT 1 AS x; INSERT INTO wal_filler VALUES (1)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(c, "SELECT pg_switch_wal()"); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-c.Done():
				t.Fatal("archive_command = 'false' never failed")
			case <-tick.C:
			}
		}
		// one more finished segment the archive lacks: the lag is a segment at least
		if _, err := conn.Exec(c, "INSERT INTO wal_filler VALUES (2)"); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(c, "SELECT pg_switch_wal()"); err != nil {
			t.Fatal(err)
		}
		cfg := advisor.DefaultConfig()
		cfg.Thresholds.BackupArchiveLagBytes = 16 << 20
		cfg.Thresholds.BackupArchiveDelay = time.Hour
		rep := backupRun(t, backupRunner(t, b, true, cfg, b.Stanza))
		if f := has(rep, "backup_wal_archive", "archiver"); f == nil || f.Severity != advisor.Warning || f.Target != p.Name {
			t.Errorf("no failing archiver (warning: it archived within the hour):\n%s", dump(rep))
		}
		if f := has(rep, "backup_wal_archive", "stanza:temporal/archive_lag"); f == nil {
			t.Errorf("no archive lag:\n%s", dump(rep))
		}
		// failing with no success for longer than the delay: critical
		cfg.Thresholds.BackupArchiveDelay = time.Nanosecond
		rep = backupRun(t, backupRunner(t, b, true, cfg, b.Stanza))
		if f := has(rep, "backup_wal_archive", "archiver"); f == nil || f.Severity != advisor.Critical {
			t.Errorf("no critical failing archiver:\n%s", dump(rep))
		}
	})
}
