package facts

import (
	"math"
	"time"
)

// The facts of a pgBackRest target (queries/packs/pgbackrest.yaml), and the PostgreSQL facts
// the backup checks compare them with (pg_stat_archiver, pg_wal_position).

// WALSegmentSize is the WAL segment size the pgbackrest pack assumes when it turns WAL file
// names into positions (PostgreSQL's default; pgbackrest info does not report it).
const WALSegmentSize = 16 << 20

// Stanza is a stanza's status as pgbackrest info reports it (pgbackrest_stanza).
type Stanza struct {
	Name string
	// Status is pgbackrest's status code: 0 ok, 1 missing stanza path, 2 no valid backups,
	// 3 missing stanza data, 4 different across repos, 5 database mismatch, 99 other.
	Status  int
	Message string
	// Locked is true while a backup of the stanza runs.
	Locked bool
}

// Stanzas returns pgbackrest_stanza.
func (t *Target) Stanzas() []Stanza {
	return each(t.Rows("pgbackrest_stanza"), func(r *Rows, i int) Stanza {
		return Stanza{Name: r.Str(i, "stanza"), Status: int(r.Float(i, "status")),
			Message: r.Str(i, "message"), Locked: r.Bool(i, "locked")}
	})
}

// StanzaDB is one database in a stanza's history (pgbackrest_stanza_info): a stanza-upgrade
// adds one.
type StanzaDB struct {
	Stanza, SystemID, PGVersion string
}

// StanzaDBs returns pgbackrest_stanza_info.
func (t *Target) StanzaDBs() []StanzaDB {
	return each(t.Rows("pgbackrest_stanza_info"), func(r *Rows, i int) StanzaDB {
		return StanzaDB{Stanza: r.Str(i, "stanza"), SystemID: r.Str(i, "system_identifier"), PGVersion: r.Str(i, "pg_version")}
	})
}

// Backup is the newest backup of one type of a stanza (pgbackrest_backup_last).
type Backup struct {
	Stanza string
	Type   string // full, diff or incr
	Label  string
	Start  time.Time
	Stop   time.Time
	// Error is pgbackrest's error flag: it found page checksum errors while copying.
	Error bool
	// ArchiveStart and ArchiveStop are the positions (bytes, WAL file starts) of the first and
	// last WAL files the backup needs; HasArchive is false when pgbackrest did not report them.
	ArchiveStart, ArchiveStop float64
	HasArchive                bool
}

// Backups returns pgbackrest_backup_last: the newest backup of each type of each stanza.
func (t *Target) Backups() []Backup {
	return each(t.Rows("pgbackrest_backup_last"), func(r *Rows, i int) Backup {
		b := Backup{Stanza: r.Str(i, "stanza"), Type: r.Str(i, "backup_type"), Label: r.Str(i, "label"),
			Start: unix(r.Float(i, "start")), Stop: unix(r.Float(i, "stop")), Error: r.Bool(i, "error")}
		start, ok1 := r.Num(i, "archive_start")
		stop, ok2 := r.Num(i, "archive_stop")
		if ok1 && ok2 {
			b.ArchiveStart, b.ArchiveStop, b.HasArchive = start, stop, true
		}
		return b
	})
}

// Archive is a stanza's WAL archive for one database id (pgbackrest_archive). Min and Max are
// the positions (bytes) of the oldest and newest WAL files; HasWAL is false when the archive
// holds none.
type Archive struct {
	Stanza, ID string
	Min, Max   float64
	HasWAL     bool
}

// Archives returns pgbackrest_archive.
func (t *Target) Archives() []Archive {
	return each(t.Rows("pgbackrest_archive"), func(r *Rows, i int) Archive {
		a := Archive{Stanza: r.Str(i, "stanza"), ID: r.Str(i, "archive_id")}
		lo, ok1 := r.Num(i, "min")
		hi, ok2 := r.Num(i, "max")
		if ok1 && ok2 {
			a.Min, a.Max, a.HasWAL = lo, hi, true
		}
		return a
	})
}

// Repo is one repository of a stanza (pgbackrest_repo).
type Repo struct {
	Stanza, Key string
	Status      int
	Message     string
}

// Repos returns pgbackrest_repo.
func (t *Target) Repos() []Repo {
	return each(t.Rows("pgbackrest_repo"), func(r *Rows, i int) Repo {
		return Repo{Stanza: r.Str(i, "stanza"), Key: r.Str(i, "repo_key"), Status: int(r.Float(i, "status")), Message: r.Str(i, "message")}
	})
}

// Archiver is PostgreSQL's pg_stat_archiver. The ages are seconds before the result was
// gathered; Has* say whether there ever was a success or a failure.
type Archiver struct {
	ArchivedCount, FailedCount    float64
	LastArchiveAge, LastFailedAge float64
	HasArchived, HasFailed        bool
	// Failing: the latest attempt failed (the last failure is newer than the last success).
	Failing bool
}

// Archiver returns pg_stat_archiver, and false when the result is not there.
func (t *Target) Archiver() (Archiver, bool) {
	r := t.Rows("pg_stat_archiver")
	if r == nil || r.Len() == 0 {
		return Archiver{}, false
	}
	a := Archiver{ArchivedCount: r.Float(0, "archived_count"), FailedCount: r.Float(0, "failed_count"),
		Failing: r.Bool(0, "failing")}
	a.LastArchiveAge, a.HasArchived = r.Num(0, "last_archive_age")
	a.LastFailedAge, a.HasFailed = r.Num(0, "last_failed_age")
	return a, true
}

// WALPosition returns the primary's current WAL write position in bytes (pg_wal_position),
// and false when it is not there.
func (t *Target) WALPosition() (float64, bool) {
	r := t.Rows("pg_wal_position")
	if r == nil || r.Len() == 0 {
		return 0, false
	}
	return r.Num(0, "current")
}

func unix(s float64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}
