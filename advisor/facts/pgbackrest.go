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

// BackupFacts are a pgBackRest target's facts, and the PostgreSQL facts the backup checks
// compare them with.
type BackupFacts struct {
	Stanzas   []Stanza   // pgbackrest_stanza
	StanzaDBs []StanzaDB // pgbackrest_stanza_info
	// Backups are pgbackrest_backup_last: the newest backup of each type of each stanza.
	Backups  []Backup
	Archives []Archive // pgbackrest_archive
	Repos    []Repo    // pgbackrest_repo
	// Archiver is PostgreSQL's pg_stat_archiver, nil when the result is not there.
	Archiver *Archiver
	// WALPosition is the primary's current WAL write position in bytes (pg_wal_position);
	// HasWALPosition: whether it is there.
	WALPosition    float64
	HasWALPosition bool
}

// backups decodes the backup facts.
func (d *decoder) backups() {
	t := d.t
	t.Stanzas, t.StanzaDBs, t.Backups = d.stanzas(), d.stanzaDBs(), d.backupLast()
	t.Archives, t.Repos, t.Archiver = d.archives(), d.repos(), d.archiver()
	if p := value(first(d.rows("pg_wal_position"), func(r *Rows) *float64 {
		if v, ok := r.Num(0, "current"); ok {
			return &v
		}
		return nil
	})); p != nil {
		t.WALPosition, t.HasWALPosition = *p, true
	}
}

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

func (d *decoder) stanzas() []Stanza {
	return each(d.rows("pgbackrest_stanza"), func(r *Rows, i int) Stanza {
		return Stanza{Name: r.Str(i, "stanza"), Status: int(r.Float(i, "status")),
			Message: r.Str(i, "message"), Locked: r.Bool(i, "locked")}
	})
}

// StanzaDB is one database in a stanza's history (pgbackrest_stanza_info): a stanza-upgrade
// adds one.
type StanzaDB struct {
	Stanza, SystemID, PGVersion string
}

func (d *decoder) stanzaDBs() []StanzaDB {
	return each(d.rows("pgbackrest_stanza_info"), func(r *Rows, i int) StanzaDB {
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

func (d *decoder) backupLast() []Backup {
	return each(d.rows("pgbackrest_backup_last"), func(r *Rows, i int) Backup {
		b := Backup{Stanza: r.Str(i, "stanza"), Type: r.Str(i, "backup_type"), Label: r.Str(i, "label"),
			Start: unix(r.Float(i, "start")), Stop: unix(r.Float(i, "stop")), Error: r.Bool(i, "error")}
		b.ArchiveStart, b.ArchiveStop, b.HasArchive = r.range2(i, "archive_start", "archive_stop")
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

func (d *decoder) archives() []Archive {
	return each(d.rows("pgbackrest_archive"), func(r *Rows, i int) Archive {
		a := Archive{Stanza: r.Str(i, "stanza"), ID: r.Str(i, "archive_id")}
		a.Min, a.Max, a.HasWAL = r.range2(i, "min", "max")
		return a
	})
}

// Repo is one repository of a stanza (pgbackrest_repo).
type Repo struct {
	Stanza, Key string
	Status      int
	Message     string
}

func (d *decoder) repos() []Repo {
	return each(d.rows("pgbackrest_repo"), func(r *Rows, i int) Repo {
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

func (d *decoder) archiver() *Archiver {
	return first(d.rows("pg_stat_archiver"), func(r *Rows) Archiver {
		a := Archiver{ArchivedCount: r.Float(0, "archived_count"), FailedCount: r.Float(0, "failed_count"),
			Failing: r.Bool(0, "failing")}
		a.LastArchiveAge, a.HasArchived = r.Num(0, "last_archive_age")
		a.LastFailedAge, a.HasFailed = r.Num(0, "last_failed_age")
		return a
	})
}

// range2 reads two numbers that are known together (a range of WAL positions); both are 0
// and ok false unless both are numbers.
func (r *Rows) range2(i int, lo, hi string) (float64, float64, bool) {
	a, ok1 := r.Num(i, lo)
	b, ok2 := r.Num(i, hi)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return a, b, true
}

func unix(s float64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	sec, frac := math.Modf(s)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}
