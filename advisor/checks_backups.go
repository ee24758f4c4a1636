package advisor

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The backup checks read pgBackRest targets (queries/packs/pgbackrest.yaml) and, for the WAL
// archive, the PostgreSQL cluster whose system identifier the stanza carries.

// backupTypes are pgbackrest's backup types, the largest first: a backup of a larger type
// also serves as the recovery point the smaller ones are scheduled for (the seed's weekly
// full replaces that day's differential).
var backupTypes = []string{"full", "diff", "incr"}

var backupTypeNames = map[string]string{"full": "full", "diff": "differential", "incr": "incremental"}

// stanzaBackups are the facts of one stanza of a pgBackRest target.
type stanzaBackups struct {
	name    string
	status  *facts.Stanza
	newest  map[string]facts.Backup // by type
	dbs     []facts.StanzaDB
	archive *facts.Archive // of the newest database id
}

// latest is the newest backup of any type, or nil.
func (s *stanzaBackups) latest() *facts.Backup {
	var out *facts.Backup
	for _, typ := range backupTypes {
		if b, ok := s.newest[typ]; ok && (out == nil || b.Stop.After(out.Stop)) {
			out = &b
		}
	}
	return out
}

// stanzas groups a pgBackRest target's facts by stanza, in the order pgbackrest reports them.
// eachStanza calls fn with every stanza of the eligible pgBackRest targets (a check may be
// eligible on PostgreSQL targets too, for what it reads of them).
func eachStanza(c *Context, fn func(t *facts.Target, st *stanzaBackups)) {
	for _, t := range c.Eligible {
		if t.Kind != queries.SourcePgbackrest {
			continue
		}
		for _, st := range stanzas(t) {
			fn(t, st)
		}
	}
}

func stanzas(t *facts.Target) []*stanzaBackups {
	var out []*stanzaBackups
	get := func(name string) *stanzaBackups {
		for _, s := range out {
			if s.name == name {
				return s
			}
		}
		s := &stanzaBackups{name: name, newest: map[string]facts.Backup{}}
		out = append(out, s)
		return s
	}
	for _, st := range t.Stanzas {
		get(st.Name).status = &st
	}
	for _, b := range t.Backups {
		s := get(b.Stanza)
		if old, ok := s.newest[b.Type]; !ok || b.Stop.After(old.Stop) {
			s.newest[b.Type] = b
		}
	}
	for _, db := range t.StanzaDBs {
		s := get(db.Stanza)
		s.dbs = append(s.dbs, db)
	}
	for _, a := range t.Archives {
		s := get(a.Stanza)
		if s.archive == nil || archiveDBID(a.ID) > archiveDBID(s.archive.ID) {
			s.archive = &a
		}
	}
	return out
}

// troubled reports whether pgbackrest cannot read the stanza (a status other than ok and no
// valid backups): backup_repo_status reports it, and the other checks have nothing to judge.
func (s *stanzaBackups) troubled() bool {
	return s.status != nil && s.status.Status != 0 && s.status.Status != noValidBackups
}

// archiveDBID is the database id of an archive id ("15-1": 1); a stanza-upgrade adds one.
func archiveDBID(id string) int {
	_, n, _ := strings.Cut(id, "-")
	v, _ := strconv.Atoi(n)
	return v
}

// stanzaCluster is the watched PostgreSQL cluster whose system identifier is one of the
// stanza's databases, or nil.
func stanzaCluster(s *facts.Snapshot, st *stanzaBackups) *facts.Cluster {
	for _, c := range s.Clusters {
		if c.SystemID == "" {
			continue
		}
		for _, db := range st.dbs {
			if db.SystemID == c.SystemID {
				return c
			}
		}
	}
	return nil
}

func backupEvidence(st *stanzaBackups, at time.Time) []Evidence {
	var ev []Evidence
	for _, typ := range backupTypes {
		name := "newest " + backupTypeNames[typ]
		if b, ok := st.newest[typ]; ok {
			ev = append(ev, Evidence{name, fmt.Sprintf("%s, ended %s (%s ago)", b.Label,
				b.Stop.UTC().Format(time.RFC3339), humanDuration(at.Sub(b.Stop).Seconds()))})
		} else {
			ev = append(ev, Evidence{name, "none"})
		}
	}
	if st.status != nil && st.status.Locked {
		ev = append(ev, Evidence{"backup in progress", "yes (the stanza's backup lock is held)"})
	}
	return ev
}

func stanzaObject(stanza, what string) string { return "stanza:" + stanza + "/" + what }

func pgbackrestCommand(stanza string, args ...string) string {
	return "pgbackrest --stanza=" + stanza + " " + strings.Join(args, " ")
}

// backupChecks are the checks of this file, in report order.
func backupChecks() []Check {
	return []Check{
		check{"backup_recovery_point", "Backups older than their schedule (full, differential, incremental)",
			backrestNeeds("pgbackrest_stanza", "pgbackrest_backup_last"), backupRecoveryPoint},
		check{"backup_error", "Backups pgbackrest marked with errors (page checksum failures)", backrestNeeds("pgbackrest_backup_last"), backupError},
		check{"backup_wal_archive", "WAL archiving into the stanza: failing, behind, or missing WAL a backup needs",
			append(backrestNeeds("pgbackrest_stanza", "pgbackrest_stanza_info", "pgbackrest_archive", "pgbackrest_backup_last"),
				Need{Query: "pg_stat_archiver"}, Need{Query: "pg_wal_position", Roles: []string{"primary"}}), backupWALArchive},
		check{"backup_stanza_unmatched", "Stanzas whose system identifier matches no watched PostgreSQL cluster",
			backrestNeeds("pgbackrest_stanza_info"), backupStanzaUnmatched},
		check{"backup_repo_status", "Stanzas and repositories pgbackrest reports not ok", backrestNeeds("pgbackrest_stanza", "pgbackrest_repo"), backupRepoStatus},
	}
}

// backrestNeeds are pgBackRest queries a check needs.
func backrestNeeds(names ...string) []Need {
	out := make([]Need, len(names))
	for i, q := range names {
		out[i] = Need{Kind: queries.SourcePgbackrest, Query: q}
	}
	return out
}

// backupRecoveryPoint: the newest backup of each type against its schedule.
func backupRecoveryPoint(c *Context) []Finding {
	th := c.Config.Thresholds
	periods := map[string]time.Duration{"full": th.BackupFullPeriod, "diff": th.BackupDiffPeriod, "incr": th.BackupIncrPeriod}
	at := c.Facts.At
	var out []Finding
	eachStanza(c, func(t *facts.Target, st *stanzaBackups) {
		if st.troubled() {
			return
		}
		ev := backupEvidence(st, at)
		if _, ok := st.newest["full"]; !ok {
			out = append(out, Finding{
				Severity: Critical, Target: t.Name, Object: stanzaObject(st.name, "full"),
				Summary:  fmt.Sprintf("stanza %s has no full backup: there is nothing to restore", st.name),
				Evidence: ev,
				Fix: Fix{Kind: "action", Text: pgbackrestCommand(st.name, "--type=full", "backup"),
					Why: "every restore starts from a full backup; then check the scheduler (cron, systemd timer) that should run it and pgbackrest's log"},
			})
			return
		}
		for i, typ := range backupTypes {
			period := periods[typ]
			if period <= 0 {
				continue // not scheduled
			}
			// the newest backup of this type or a larger one: a full is also that day's diff
			var newest facts.Backup
			for _, larger := range backupTypes[:i+1] {
				if b, ok := st.newest[larger]; ok && b.Stop.After(newest.Stop) {
					newest = b
				}
			}
			age := at.Sub(newest.Stop)
			if age <= period+th.BackupGrace {
				continue
			}
			sev := Warning
			if age > 2*period+th.BackupGrace {
				sev = Critical
			}
			name := backupTypeNames[typ]
			summary := fmt.Sprintf("the newest %s backup of stanza %s ended %s ago; one is scheduled every %s",
				name, st.name, humanDuration(age.Seconds()), humanDuration(period.Seconds()))
			if newest.Type != typ {
				summary = fmt.Sprintf("no %s backup of stanza %s since %s ago (the newest backup, %s, is a %s); one is scheduled every %s",
					name, st.name, humanDuration(age.Seconds()), newest.Label, backupTypeNames[newest.Type], humanDuration(period.Seconds()))
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: stanzaObject(st.name, typ),
				Summary: summary,
				Evidence: append(ev, Evidence{"schedule", fmt.Sprintf("%s every %s, late after %s more (critical after twice the period)",
					name, humanDuration(period.Seconds()), humanDuration(th.BackupGrace.Seconds()))}),
				Window: &Window{From: newest.Stop, To: at, Basis: "since the newest backup that serves as the " + name + " recovery point"},
				Fix: Fix{Kind: "action", Text: pgbackrestCommand(st.name, "--type="+typ, "backup"),
					Why: "a restore replays the WAL since the newest backup: the older it is, the longer a restore takes, and the more WAL it depends on. " +
						"Check the scheduler (cron, systemd timer) that runs this backup, and pgbackrest's log for the runs that failed"},
			})
		}
	})
	return out
}

// backupError: pgbackrest marks a backup whose pages failed their checksums.
func backupError(c *Context) []Finding {
	var out []Finding
	eachStanza(c, func(t *facts.Target, st *stanzaBackups) {
		latest := st.latest()
		for _, typ := range backupTypes {
			b, ok := st.newest[typ]
			if !ok || !b.Error {
				continue
			}
			// a full is the base of every later backup; the newest is what a restore uses
			sev := Warning
			if typ == "full" || b.Label == latest.Label {
				sev = Critical
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: stanzaObject(st.name, typ),
				Summary: fmt.Sprintf("the newest %s backup of stanza %s, %s, has errors: pgbackrest found pages that failed their checksums",
					backupTypeNames[typ], st.name, b.Label),
				Evidence: append([]Evidence{{"backup", fmt.Sprintf("%s (%s), ended %s", b.Label, typ, b.Stop.UTC().Format(time.RFC3339))}},
					backupEvidence(st, c.Facts.At)...),
				Fix: Fix{Kind: "action",
					Text: pgbackrestCommand(st.name, "verify") + "\n" + pgbackrestCommand(st.name, "--type=full", "backup"),
					Why: "the pages are corrupt in the database itself, not only in the backup: pgbackrest's backup log names the files; " +
						"repair the relations (from a replica, or restore them from an older backup), then take a new full backup, which the next diffs and incrs build on"},
			})
		}
	})
	return out
}

// backupWALArchive: the stanza's WAL archive against its newest backup and against the WAL
// the cluster wrote, and PostgreSQL's archiver.
func backupWALArchive(c *Context) []Finding {
	th := c.Config.Thresholds
	at := c.Facts.At
	var out []Finding
	seenPG := map[string]bool{}
	eachStanza(c, func(t *facts.Target, st *stanzaBackups) {
		if st.troubled() {
			return
		}
		latest := st.latest()
		archiveCmd := fmt.Sprintf("archive_command = 'pgbackrest --stanza=%s archive-push %%p'", st.name)
		if st.archive == nil || !st.archive.HasWAL {
			sev, summary := Warning, fmt.Sprintf("the WAL archive of stanza %s holds no WAL", st.name)
			if latest != nil {
				sev, summary = Critical, summary+": no backup of it can be restored"
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: stanzaObject(st.name, "archive"), Summary: summary,
				Evidence: backupEvidence(st, at),
				Fix: Fix{Kind: "action", Text: pgbackrestCommand(st.name, "check"),
					Why: "check reports why WAL does not reach the repository; the cluster needs archive_mode = on and " + archiveCmd},
			})
			return
		}
		a := st.archive
		archiveEv := Evidence{"archive " + a.ID, fmt.Sprintf("%s to %s", walName(a.Min), walName(a.Max))}
		if latest != nil && latest.HasArchive && (a.Min > latest.ArchiveStart || a.Max < latest.ArchiveStop) {
			out = append(out, Finding{
				Severity: Critical, Target: t.Name, Object: stanzaObject(st.name, "archive"),
				Summary: fmt.Sprintf("the WAL archive of stanza %s lacks WAL the newest backup, %s, needs to be consistent", st.name, latest.Label),
				Evidence: []Evidence{archiveEv,
					{"backup " + latest.Label + " needs", fmt.Sprintf("%s to %s", walName(latest.ArchiveStart), walName(latest.ArchiveStop))}},
				Fix: Fix{Kind: "action", Text: pgbackrestCommand(st.name, "check") + "\n" + pgbackrestCommand(st.name, "--type=full", "backup"),
					Why: "without that WAL the backup cannot be restored; check that archiving works, then take a new backup"},
			})
		}
		cl := stanzaCluster(c.Facts, st)
		if cl == nil {
			return // backup_stanza_unmatched says so
		}
		for _, m := range cl.Members {
			if !slices.Contains(c.Eligible, m) {
				continue
			}
			if pos, ok := m.WALPosition, m.HasWALPosition; ok && m.Role == queries.RolePrimary {
				// the segment being written cannot be archived yet: count the ones before it
				done := a.Max + facts.WALSegmentSize
				lag := float64(int64(pos)/facts.WALSegmentSize*facts.WALSegmentSize) - done
				if lag >= float64(th.BackupArchiveLagBytes) {
					sev := Warning
					if lag >= 8*float64(th.BackupArchiveLagBytes) {
						sev = Critical
					}
					out = append(out, Finding{
						Severity: sev, Target: t.Name, Cluster: cl.Name, Object: stanzaObject(st.name, "archive_lag"),
						Summary: fmt.Sprintf("the WAL archive of stanza %s is %s behind the WAL %s wrote", st.name, humanBytes(lag), m.Name),
						Evidence: []Evidence{archiveEv, {"WAL position of " + m.Name, walName(pos)},
							{"WAL not archived", fmt.Sprintf("%s (%.0f segments)", humanBytes(lag), lag/facts.WALSegmentSize)}},
						Fix: Fix{Kind: "sql", Text: "SELECT * FROM pg_stat_archiver;",
							Why: "run it on " + m.Name + ": WAL not in the archive is lost with the server, and it piles up in pg_wal until archiving catches up; " +
								"a failing archive_command shows in last_failed_wal and the server log (then run " + pgbackrestCommand(st.name, "check") + ")"},
					})
				}
			}
			ar, ok := m.Archiver, m.Archiver != nil
			if !ok || seenPG[m.Name] {
				continue
			}
			seenPG[m.Name] = true
			ev := []Evidence{{"failed attempts", fmt.Sprintf("%.0f", ar.FailedCount)}, {"archived", fmt.Sprintf("%.0f WAL files", ar.ArchivedCount)}}
			if ar.HasArchived {
				ev = append(ev, Evidence{"last archived", humanDuration(ar.LastArchiveAge) + " ago"})
			} else {
				ev = append(ev, Evidence{"last archived", "never"})
			}
			if ar.HasFailed {
				ev = append(ev, Evidence{"last failed", humanDuration(ar.LastFailedAge) + " ago"})
			}
			fix := Fix{Kind: "action", Text: pgbackrestCommand(st.name, "check"),
				Why: "check runs archive-push as the server does and says why it fails (repository unreachable, full disk, stanza mismatch); the server log of " + m.Name + " has archive_command's error. " +
					"While archiving fails, WAL piles up in pg_wal and no new WAL reaches the backups"}
			switch {
			case ar.Failing:
				sev := Warning
				if !ar.HasArchived || ar.LastArchiveAge >= th.BackupArchiveDelay.Seconds() {
					sev = Critical
				}
				out = append(out, Finding{
					Severity: sev, Target: m.Name, Cluster: cl.Name, Object: "archiver",
					Summary:  fmt.Sprintf("WAL archiving into stanza %s is failing: the latest attempt failed", st.name),
					Evidence: ev, Fix: fix,
				})
			case ar.HasFailed && ar.LastFailedAge <= th.BackupGrace.Seconds():
				out = append(out, Finding{
					Severity: Info, Target: m.Name, Cluster: cl.Name, Object: "archiver",
					Summary:  fmt.Sprintf("WAL archiving into stanza %s failed %s ago; it has succeeded since", st.name, humanDuration(ar.LastFailedAge)),
					Evidence: ev, Fix: fix,
				})
			}
		}
	})
	return out
}

// walName writes a WAL position as the name of its file on timeline 1 (pgbackrest info
// does not say the timeline).
func walName(pos float64) string {
	p := uint64(pos)
	return fmt.Sprintf("%08X%08X%08X", 1, p>>32, p&0xFFFFFFFF/facts.WALSegmentSize)
}

// backupStanzaUnmatched: a stanza whose system identifier matches no watched cluster.
func backupStanzaUnmatched(c *Context) []Finding {
	var known []string
	unknown := 0 // PostgreSQL targets whose system identifier is not known (never answered)
	for _, cl := range c.Facts.Clusters {
		if cl.SystemID != "" {
			known = append(known, cl.Name+": "+cl.SystemID)
		} else {
			unknown += len(cl.Members)
		}
	}
	var out []Finding
	eachStanza(c, func(t *facts.Target, st *stanzaBackups) {
		if len(st.dbs) == 0 || stanzaCluster(c.Facts, st) != nil {
			return
		}
		var ids []string
		for _, db := range st.dbs {
			ids = append(ids, fmt.Sprintf("%s (PostgreSQL %s)", db.SystemID, db.PGVersion))
		}
		watched := "none"
		if len(known) > 0 {
			watched = strings.Join(known, ", ")
		}
		ev := []Evidence{{"stanza databases", strings.Join(ids, ", ")}, {"watched clusters", watched}}
		sev := Warning
		summary := fmt.Sprintf("stanza %s backs up no watched PostgreSQL cluster: its system identifier matches none", st.name)
		if unknown > 0 {
			sev = Info
			summary += fmt.Sprintf(" (%d PostgreSQL targets have not answered yet: one may be its cluster)", unknown)
		}
		out = append(out, Finding{
			Severity: sev, Target: t.Name, Object: stanzaObject(st.name, "system_identifier"),
			Summary: summary, Evidence: ev,
			Fix: Fix{Kind: "action",
				Text: "SELECT system_identifier FROM pg_control_system(); -- on the cluster the stanza should back up\n" +
					pgbackrestCommand(st.name, "stanza-upgrade") + " -- after pg_upgrade; a rebuilt cluster needs a stanza of its own (stanza-create) and a full backup",
				Why: "the stanza holds backups of another cluster, or of this one before it was rebuilt (initdb, pg_upgrade, a restore under a new identifier): " +
					"archive-push into it then fails and the running cluster has no usable backup. If it backs up a cluster the exporter does not watch, add that cluster as a postgres target"},
		})
	})
	return out
}

// backupRepoStatus: the stanza's and each repository's status code.

// noValidBackups is pgbackrest's status code for a stanza without backups: backup_recovery_point
// reports it (no full backup).
const noValidBackups = 2

// statusFixes say what to do for pgbackrest's status codes.
var statusFixes = map[int][2]string{
	1: {"stanza-create", "the stanza's directory is missing from the repository: a new stanza needs stanza-create; an existing one means the repository path, mount or credentials changed"},
	3: {"check", "the stanza's backup.info or archive.info is missing from the repository: check that the repository is the right one and intact"},
	4: {"check", "the repositories disagree about the stanza: check each repository (--repo=N)"},
	5: {"stanza-upgrade", "the database is not the one the stanza was created for: after pg_upgrade run stanza-upgrade; for a rebuilt cluster create a new stanza"},
}

func backupRepoStatus(c *Context) []Finding {
	var out []Finding
	add := func(t *facts.Target, stanza, object, what string, code int, msg string) {
		cmd, why := "check", "check runs what backup and archive-push need and says what fails; the message is pgbackrest's"
		if f, ok := statusFixes[code]; ok {
			cmd, why = f[0], f[1]
		}
		out = append(out, Finding{
			Severity: Critical, Target: t.Name, Object: object,
			Summary:  fmt.Sprintf("%s: pgbackrest reports status %d (%s)", what, code, msg),
			Evidence: []Evidence{{"status code", strconv.Itoa(code)}, {"message", msg}},
			Fix:      Fix{Kind: "action", Text: pgbackrestCommand(stanza, cmd), Why: why},
		})
	}
	for _, t := range c.Eligible {
		if t.Kind != queries.SourcePgbackrest {
			continue
		}
		for _, st := range t.Stanzas {
			if st.Status != 0 && st.Status != noValidBackups {
				add(t, st.Name, stanzaObject(st.Name, "status"), "stanza "+st.Name, st.Status, st.Message)
			}
		}
		for _, r := range t.Repos {
			if r.Status != 0 && r.Status != noValidBackups {
				add(t, r.Stanza, stanzaObject(r.Stanza, "repo"+r.Key), fmt.Sprintf("repository %s of stanza %s", r.Key, r.Stanza), r.Status, r.Message)
			}
		}
	}
	return out
}
