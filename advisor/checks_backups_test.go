package advisor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The backup checks read pgBackRest targets' facts, and the PostgreSQL cluster whose system
// identifier the stanza carries.

// backupRepo is a pgBackRest target.
type backupRepo struct {
	name  string
	facts facts.BackupFacts
	down  bool
}

// backupSnapshot builds the facts of PostgreSQL servers and pgBackRest targets.
func backupSnapshot(at time.Time, servers []*facts.Target, repos ...backupRepo) *facts.Snapshot {
	targets := servers
	for _, r := range repos {
		t := &facts.Target{Name: r.name, Kind: queries.SourcePgbackrest, BackupFacts: r.facts}
		if r.down {
			t.Down = "connection refused"
		}
		targets = append(targets, t)
	}
	return snapshot(at, targets...)
}

const segment = 16 << 20 // a WAL segment

// bk is one newest backup of a type.
type bk struct {
	typ        string
	ago        time.Duration
	err        bool
	start, end float64 // WAL positions it needs
}

// stanza is stanza temporal as pgbackrest info reports it: status ok, database with system
// identifier sysid, the backups given, WAL archived from segment 1 to maxSeg (none when
// maxSeg < 0).
func stanza(sysid string, maxSeg float64, backups ...bk) facts.BackupFacts {
	f := facts.BackupFacts{
		Stanzas:   []facts.Stanza{{Name: "temporal", Message: "ok"}},
		StanzaDBs: []facts.StanzaDB{{Stanza: "temporal", SystemID: sysid, PGVersion: "15"}},
		Backups:   []facts.Backup{},
		Archives:  []facts.Archive{{Stanza: "temporal", ID: "15-1"}},
		Repos:     []facts.Repo{{Stanza: "temporal", Key: "1", Message: "ok"}},
	}
	if maxSeg >= 0 {
		f.Archives[0].Min, f.Archives[0].Max, f.Archives[0].HasWAL = 1*segment, maxSeg*segment, true
	}
	for _, x := range backups {
		stop := now.Add(-x.ago).Truncate(time.Second)
		label := stop.Format("20060102-150405") + map[string]string{"full": "F", "diff": "D", "incr": "I"}[x.typ]
		f.Backups = append(f.Backups, facts.Backup{Stanza: "temporal", Type: x.typ, Label: label, Start: stop.Add(-time.Minute).UTC(),
			Stop: stop.UTC(), Error: x.err, ArchiveStart: x.start, ArchiveStop: x.end, HasArchive: true})
	}
	return f
}

// onSchedule is the seed's schedule kept: full 3 days ago, diff 10 h, incr 1 h; each needs the
// WAL segment it ended in.
var onSchedule = []bk{
	{typ: "full", ago: 72 * time.Hour, start: 2 * segment, end: 2 * segment},
	{typ: "diff", ago: 10 * time.Hour, start: 5 * segment, end: 5 * segment},
	{typ: "incr", ago: time.Hour, start: 8 * segment, end: 8 * segment},
}

// with returns onSchedule with the backup of type typ replaced (ago 0: removed).
func weeklyWith(typ string, ago time.Duration) []bk {
	var out []bk
	for _, b := range onSchedule {
		if b.typ == typ {
			if ago == 0 {
				continue
			}
			b.ago = ago
		}
		out = append(out, b)
	}
	return out
}

// archivingPrimary is PostgreSQL cluster sysid's primary, its WAL at segment walSeg, with the
// archiver given.
func archivingPrimary(sysid string, walSeg float64, archiver facts.Archiver) *facts.Target {
	t := pg("pg", queries.RolePrimary, facts.PostgresFacts{StartTime: started})
	t.SystemID = sysid
	t.BackupFacts = facts.BackupFacts{WALPosition: walSeg*segment + 4096, HasWALPosition: true, Archiver: &archiver}
	return t
}

// archiverOK: archived 30 s ago, never failed.
var archiverOK = facts.Archiver{ArchivedCount: 100, LastArchiveAge: 30, HasArchived: true}

// failing is an archiver whose last attempts failed: count failed, the last success and
// failure that long ago (a negative age: never).
func failing(archived, failed, lastArchive, lastFailed float64, now bool) facts.Archiver {
	return facts.Archiver{ArchivedCount: archived, FailedCount: failed, LastArchiveAge: max(lastArchive, 0), HasArchived: lastArchive >= 0,
		LastFailedAge: lastFailed, HasFailed: true, Failing: now}
}

func backupFindings(t *testing.T, s *facts.Snapshot, cfg advisor.Config, check string) []advisor.Finding {
	t.Helper()
	rep := advisor.Evaluate(s, backupCheck(t, check), &cfg, nil)
	for _, sk := range rep.Skipped {
		if strings.HasPrefix(sk.Target, "backups") {
			t.Errorf("%s skipped %s: %s", check, sk.Target, sk.Reason)
		}
	}
	return rep.Findings
}

func backupCheck(t *testing.T, id string) []advisor.Check {
	t.Helper()
	for _, c := range advisor.DefaultChecks() {
		if c.ID() == id {
			return []advisor.Check{c}
		}
	}
	t.Fatalf("no check %q", id)
	return nil
}

// backupSummary writes findings as "severity object" lines, for comparisons.
func backupSummary(fs []advisor.Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Severity.String()+" "+f.Object)
	}
	return strings.Join(out, "; ")
}

func TestBackupRecoveryPoint(t *testing.T) {
	h := time.Hour
	for _, tc := range []struct {
		name    string
		backups []bk
		cfg     func(*advisor.Thresholds)
		status  int
		want    string
	}{
		{name: "on schedule", backups: onSchedule},
		{name: "incr at period plus grace", backups: weeklyWith("incr", 7*h)},
		{name: "incr late", backups: weeklyWith("incr", 7*h+time.Second), want: "warning stanza:temporal/incr"},
		{name: "incr at twice the period plus grace", backups: []bk{onSchedule[0], {typ: "diff", ago: 20 * h}, {typ: "incr", ago: 13 * h}},
			want: "warning stanza:temporal/incr"},
		{name: "incr very late", backups: []bk{onSchedule[0], {typ: "diff", ago: 20 * h}, {typ: "incr", ago: 13*h + time.Second}},
			want: "critical stanza:temporal/incr"},
		// an incremental older than the newest differential: the differential is the recovery point
		{name: "incr older than diff", backups: []bk{onSchedule[0], {typ: "diff", ago: 5 * h}, {typ: "incr", ago: 12 * h}}},
		// no incremental ever, but a differential 2 h ago is a newer recovery point
		{name: "diff serves for incr", backups: append(weeklyWith("incr", 0)[:1], bk{typ: "diff", ago: 2 * h})},
		// the seed's Sunday: the onSchedule full replaces that day's differential
		{name: "full serves for diff", backups: []bk{{typ: "full", ago: h}, {typ: "diff", ago: 30 * h}, {typ: "incr", ago: 2 * h}}},
		{name: "diff late", backups: weeklyWith("diff", 26*h), want: "warning stanza:temporal/diff"},
		{name: "full late", backups: weeklyWith("full", 7*24*h+2*h), want: "warning stanza:temporal/full"},
		{name: "full very late", backups: weeklyWith("full", 15*24*h+2*h), want: "critical stanza:temporal/full"},
		{name: "no full", backups: onSchedule[1:], want: "critical stanza:temporal/full"},
		{name: "no backup", want: "critical stanza:temporal/full"},
		{name: "incr not scheduled", backups: weeklyWith("incr", 0), cfg: func(th *advisor.Thresholds) { th.BackupIncrPeriod = 0 }},
		// pgbackrest cannot read the stanza: backup_repo_status says so
		{name: "stanza missing", backups: nil, cfg: func(*advisor.Thresholds) {}, status: 1},
		{name: "tiny period", backups: onSchedule, cfg: func(th *advisor.Thresholds) { th.BackupIncrPeriod, th.BackupGrace = time.Minute, 0 },
			want: "critical stanza:temporal/incr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := advisor.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg.Thresholds)
			}
			r := stanza("42", 9, tc.backups...)
			r.Stanzas[0].Status = tc.status
			s := backupSnapshot(now, nil, backupRepo{name: "backups", facts: r})
			fs := backupFindings(t, s, cfg, "backup_recovery_point")
			if got := backupSummary(fs); got != tc.want {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			for _, f := range fs {
				typ := strings.TrimPrefix(f.Object, "stanza:temporal/")
				if f.Target != "backups" || f.Fix.Text != "pgbackrest --stanza=temporal --type="+typ+" backup" {
					t.Errorf("finding %+v", f)
				}
				if !strings.Contains(f.Fix.Why, "cron") && !strings.Contains(f.Fix.Why, "systemd") {
					t.Errorf("the fix does not say to check the scheduler: %s", f.Fix.Why)
				}
			}
		})
	}
	// the evidence names the newest backup of each type with its age
	s := backupSnapshot(now, nil, backupRepo{name: "backups", facts: stanza("42", 9, weeklyWith("incr", 8*h)...)})
	fs := backupFindings(t, s, advisor.DefaultConfig(), "backup_recovery_point")
	if len(fs) != 1 {
		t.Fatalf("%d findings", len(fs))
	}
	ev := map[string]string{}
	for _, e := range fs[0].Evidence {
		ev[e.Name] = e.Value
	}
	if !strings.Contains(ev["newest incremental"], "I, ended") || !strings.Contains(ev["newest incremental"], "(8.0 h ago)") ||
		!strings.Contains(ev["newest full"], "(3.0 days ago)") || !strings.Contains(ev["newest differential"], "(10.0 h ago)") {
		t.Errorf("evidence %v", fs[0].Evidence)
	}
}

func TestBackupError(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backups []bk
		want    string
	}{
		{name: "none", backups: onSchedule},
		{name: "newest backup", backups: []bk{onSchedule[0], onSchedule[1], {typ: "incr", ago: time.Hour, err: true}}, want: "critical stanza:temporal/incr"},
		// a newer differential was taken since: the incremental is no longer what a restore uses
		{name: "older incr", backups: []bk{onSchedule[0], {typ: "diff", ago: time.Hour}, {typ: "incr", ago: 2 * time.Hour, err: true}}, want: "warning stanza:temporal/incr"},
		{name: "full", backups: []bk{{typ: "full", ago: 72 * time.Hour, err: true}, onSchedule[1], onSchedule[2]}, want: "critical stanza:temporal/full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := backupSnapshot(now, nil, backupRepo{name: "backups", facts: stanza("42", 9, tc.backups...)})
			fs := backupFindings(t, s, advisor.DefaultConfig(), "backup_error")
			if got := backupSummary(fs); got != tc.want {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			for _, f := range fs {
				if !strings.Contains(f.Summary, "I,") && !strings.Contains(f.Summary, "F,") || // the label
					!strings.HasPrefix(f.Fix.Text, "pgbackrest --stanza=temporal verify") {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestBackupWALArchive(t *testing.T) {
	mib := float64(1 << 20)
	for _, tc := range []struct {
		name     string
		sysid    string // the stanza's
		maxSeg   float64
		walSeg   float64 // the primary's current segment
		archiver facts.Archiver
		backups  []bk
		noPG     bool
		status   int
		want     string
	}{
		{name: "healthy", walSeg: 10, archiver: archiverOK},
		// the segment being written and up to BackupArchiveLagBytes before it are not late
		{name: "lag below threshold", walSeg: 10 + 256*mib/segment - 1, archiver: archiverOK},
		{name: "lag", walSeg: 10 + 256*mib/segment, archiver: archiverOK, want: "warning stanza:temporal/archive_lag"},
		{name: "lag critical", walSeg: 10 + 8*256*mib/segment, archiver: archiverOK, want: "critical stanza:temporal/archive_lag"},
		{name: "failing since a minute", walSeg: 10, archiver: failing(100, 3, 60, 10, true), want: "warning archiver"},
		{name: "failing for long", walSeg: 10, archiver: failing(100, 30, 600, 10, true), want: "critical archiver"},
		{name: "never archived", walSeg: 10, archiver: failing(0, 30, -1, 10, true), want: "critical archiver"},
		{name: "recovered", walSeg: 10, archiver: failing(100, 3, 10, 600, false), want: "info archiver"},
		{name: "recovered long ago", walSeg: 10, archiver: failing(100, 3, 10, 7200, false)},
		// a failing archiver of a cluster the stanza does not back up is not this check's
		{name: "other cluster", sysid: "43", walSeg: 10 + 8*256*mib/segment, archiver: failing(100, 30, 600, 10, true)},
		{name: "backup WAL missing", maxSeg: 7, walSeg: 8, archiver: archiverOK, want: "critical stanza:temporal/archive"},
		{name: "no WAL, backups", maxSeg: -1, walSeg: 10, archiver: archiverOK, want: "critical stanza:temporal/archive"},
		{name: "no WAL, no backups", maxSeg: -1, backups: []bk{}, walSeg: 10, archiver: archiverOK, want: "warning stanza:temporal/archive"},
		{name: "PostgreSQL not watched", walSeg: 10, noPG: true},
		{name: "stanza missing", maxSeg: -1, backups: []bk{}, walSeg: 10, archiver: archiverOK, status: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysid, maxSeg, backups := "42", 9.0, onSchedule
			if tc.sysid != "" {
				sysid = tc.sysid
			}
			if tc.maxSeg != 0 {
				maxSeg = tc.maxSeg
			}
			if tc.backups != nil {
				backups = tc.backups
			}
			r := stanza(sysid, maxSeg, backups...)
			r.Stanzas[0].Status = tc.status
			var pgs []*facts.Target
			if !tc.noPG {
				pgs = append(pgs, archivingPrimary("42", tc.walSeg, tc.archiver))
			}
			s := backupSnapshot(now, pgs, backupRepo{name: "backups", facts: r})
			fs := backupFindings(t, s, advisor.DefaultConfig(), "backup_wal_archive")
			if got := backupSummary(fs); got != tc.want {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			for _, f := range fs {
				if f.Object == "archiver" && (f.Target != "pg" || f.Fix.Text != "pgbackrest --stanza=temporal check") {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
	// after a stanza-upgrade the newest archive id is the one read
	r := stanza("42", 9, onSchedule...)
	r.Archives = []facts.Archive{{Stanza: "temporal", ID: "15-2", Min: 1 * segment, Max: 9 * segment, HasWAL: true},
		{Stanza: "temporal", ID: "14-1", Min: 1 * segment, Max: 2 * segment, HasWAL: true}}
	s := backupSnapshot(now, []*facts.Target{archivingPrimary("42", 10, archiverOK)}, backupRepo{name: "backups", facts: r})
	if fs := backupFindings(t, s, advisor.DefaultConfig(), "backup_wal_archive"); len(fs) != 0 {
		t.Errorf("upgraded stanza: %q", backupSummary(fs))
	}
}

func TestBackupStanzaUnmatched(t *testing.T) {
	upgraded := stanza("42", 9, onSchedule...)
	upgraded.StanzaDBs = []facts.StanzaDB{{Stanza: "temporal", SystemID: "41", PGVersion: "14"}, {Stanza: "temporal", SystemID: "42", PGVersion: "15"}}
	for _, tc := range []struct {
		name    string
		servers []*facts.Target
		facts   facts.BackupFacts
		want    string
	}{
		{name: "matched", servers: []*facts.Target{archivingPrimary("42", 10, archiverOK)}, facts: stanza("42", 9, onSchedule...)},
		{name: "matched after stanza-upgrade", servers: []*facts.Target{archivingPrimary("42", 10, archiverOK)}, facts: upgraded},
		{name: "other cluster", servers: []*facts.Target{archivingPrimary("43", 10, archiverOK)}, facts: stanza("42", 9, onSchedule...),
			want: "warning stanza:temporal/system_identifier"},
		{name: "no PostgreSQL watched", facts: stanza("42", 9, onSchedule...), want: "warning stanza:temporal/system_identifier"},
		// a target that never answered may be the stanza's cluster
		{name: "unknown cluster", servers: []*facts.Target{archivingPrimary("43", 10, archiverOK), {Name: "down", Down: "connection refused"}},
			facts: stanza("42", 9, onSchedule...), want: "info stanza:temporal/system_identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := backupSnapshot(now, tc.servers, backupRepo{name: "backups", facts: tc.facts})
			fs := backupFindings(t, s, advisor.DefaultConfig(), "backup_stanza_unmatched")
			if got := backupSummary(fs); got != tc.want {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			for _, f := range fs {
				if !strings.Contains(f.Evidence[0].Value, "42 (PostgreSQL 15)") {
					t.Errorf("evidence %v", f.Evidence)
				}
			}
		})
	}
}

func TestBackupRepoStatus(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stanza *facts.Stanza
		repo   *facts.Repo
		want   string
	}{
		{name: "ok"},
		{name: "missing stanza path", stanza: &facts.Stanza{Name: "temporal", Status: 1, Message: "missing stanza path"}, want: "critical stanza:temporal/status"},
		{name: "database mismatch", stanza: &facts.Stanza{Name: "temporal", Status: 5, Message: "database mismatch"}, want: "critical stanza:temporal/status"},
		// no valid backups: backup_recovery_point reports it as no full backup
		{name: "no backups", stanza: &facts.Stanza{Name: "temporal", Status: 2, Message: "no valid backups"}},
		{name: "repository", repo: &facts.Repo{Stanza: "temporal", Key: "2", Status: 99, Message: "other"}, want: "critical stanza:temporal/repo2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := stanza("42", 9, onSchedule...)
			if tc.stanza != nil {
				r.Stanzas = []facts.Stanza{*tc.stanza}
			}
			if tc.repo != nil {
				r.Repos = append(r.Repos, *tc.repo)
			}
			fs := backupFindings(t, backupSnapshot(now, nil, backupRepo{name: "backups", facts: r}), advisor.DefaultConfig(), "backup_repo_status")
			if got := backupSummary(fs); got != tc.want {
				t.Fatalf("findings %q, want %q", got, tc.want)
			}
			for _, f := range fs {
				var msg string
				if tc.stanza != nil {
					msg = tc.stanza.Message
				} else {
					msg = tc.repo.Message
				}
				if !strings.Contains(f.Summary, msg) || !strings.HasPrefix(f.Fix.Text, "pgbackrest --stanza=temporal ") {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
	// a stanza-upgrade is the fix for a database mismatch
	r := stanza("42", 9, onSchedule...)
	r.Stanzas = []facts.Stanza{{Name: "temporal", Status: 5, Message: "database mismatch"}}
	fs := backupFindings(t, backupSnapshot(now, nil, backupRepo{name: "backups", facts: r}), advisor.DefaultConfig(), "backup_repo_status")
	if len(fs) != 1 || fs[0].Fix.Text != "pgbackrest --stanza=temporal stanza-upgrade" {
		t.Errorf("findings %+v", fs)
	}
}

// TestBackupChecksSkipDown: a pgBackRest target that is down is skipped with the reason, and
// the PostgreSQL checks neither read nor skip it.
func TestBackupChecksSkipDown(t *testing.T) {
	s := backupSnapshot(now, []*facts.Target{archivingPrimary("42", 10, archiverOK)}, backupRepo{name: "backups", down: true})
	cfg := advisor.DefaultConfig()
	rep := advisor.Evaluate(s, advisor.DefaultChecks(), &cfg, nil)
	skipped := map[string]bool{}
	for _, sk := range rep.Skipped {
		if sk.Target == "backups" {
			if !strings.HasPrefix(sk.Check, "backup_") {
				t.Errorf("%s skipped the pgBackRest target", sk.Check)
			}
			skipped[sk.Check] = true
		}
	}
	for _, id := range []string{"backup_recovery_point", "backup_error", "backup_wal_archive", "backup_stanza_unmatched", "backup_repo_status"} {
		if !skipped[id] {
			t.Errorf("%s did not skip the target that is down", id)
		}
	}
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.Check, "backup_") {
			t.Errorf("finding on a target that is down: %+v", f)
		}
	}
}
