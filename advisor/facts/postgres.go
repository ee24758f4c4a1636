package facts

import (
	"strings"
	"time"
)

// Relation names a table or index: database, schema, name.
type Relation struct {
	Database, Schema, Name string
}

// Qualified is schema.name, quoted where SQL needs it.
func (r Relation) Qualified() string { return QuoteIdent(r.Schema) + "." + QuoteIdent(r.Name) }

// String is database/schema.name for people.
func (r Relation) String() string { return r.Schema + "." + r.Name }

// QuoteIdent quotes a SQL identifier when it needs quotes.
func QuoteIdent(s string) string {
	plain := s != ""
	for i, c := range s {
		ok := c == '_' || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9')
		plain = plain && ok
	}
	if plain {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Table is one user table.
type Table struct {
	Relation
	SeqScan, SeqTupRead, IdxScan      float64
	LiveTuples, DeadTuples, RelTuples float64
	ModSinceAnalyze, InsSinceVacuum   float64
	RelPages                          float64
	LastVacuum, LastAutovacuum        time.Time
	FrozenXIDAge                      float64
	SizeBytes, IndexBytes, ToastBytes float64 // from pg_table_sizes, 0 when unknown
	Options                           map[string]string
	VacuumCount, AutovacuumCount      float64
	AnalyzeCount, AutoanalyzeCount    float64
	LastAnalyze, LastAutoanalyze      time.Time
	hasSize                           bool
}

// HasSize reports whether the table's size is known.
func (t *Table) HasSize() bool { return t.hasSize }

// Tables returns pg_stat_user_tables, with sizes from pg_table_sizes when available.
func (t *Target) Tables() []Table {
	sizes := map[Relation][3]float64{}
	if s := t.Rows("pg_table_sizes"); s != nil {
		for i := range s.Len() {
			sizes[Relation{s.Str(i, "datname"), s.Str(i, "schemaname"), s.Str(i, "relname")}] =
				[3]float64{s.Float(i, "table_bytes"), s.Float(i, "index_bytes"), s.Float(i, "toast_bytes")}
		}
	}
	return each(t.Rows("pg_stat_user_tables"), func(r *Rows, i int) Table {
		tb := Table{
			Relation:        Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "relname")},
			SeqScan:         r.Float(i, "seq_scan"),
			SeqTupRead:      r.Float(i, "seq_tup_read"),
			IdxScan:         r.Float(i, "idx_scan"),
			LiveTuples:      r.Float(i, "n_live_tup"),
			DeadTuples:      r.Float(i, "n_dead_tup"),
			RelTuples:       r.Float(i, "reltuples"),
			ModSinceAnalyze: r.Float(i, "n_mod_since_analyze"),
			InsSinceVacuum:  r.Float(i, "n_ins_since_vacuum"),
			RelPages:        r.Float(i, "relpages"),
			LastVacuum:      r.Time(i, "last_vacuum"),
			LastAutovacuum:  r.Time(i, "last_autovacuum"),
			LastAnalyze:     r.Time(i, "last_analyze"),
			LastAutoanalyze: r.Time(i, "last_autoanalyze"),
			FrozenXIDAge:    r.Float(i, "relfrozenxid_age"),
			VacuumCount:     r.Float(i, "vacuum_count"),
			AutovacuumCount: r.Float(i, "autovacuum_count"),
			AnalyzeCount:    r.Float(i, "analyze_count"),
			Options:         parseOptions(r.Str(i, "reloptions")),
		}
		tb.AutoanalyzeCount = r.Float(i, "autoanalyze_count")
		if sz, ok := sizes[tb.Relation]; ok {
			tb.SizeBytes, tb.IndexBytes, tb.ToastBytes, tb.hasSize = sz[0], sz[1], sz[2], true
		}
		return tb
	})
}

// parseOptions reads reloptions ("fillfactor=70,autovacuum_enabled=off").
func parseOptions(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Index is one user index with its statistics.
type Index struct {
	Relation
	Table                                    string
	Scans                                    float64
	Unique, Primary, Valid, ConstraintBacked bool
	SizeBytes                                float64
}

// blockSize is PostgreSQL's page size (a compile-time constant nobody changes).
const blockSize = 8192

// Indexes returns pg_stat_user_indexes, with sizes from pg_index_sizes when available, else
// estimated from relpages.
func (t *Target) Indexes() []Index {
	sizes := map[Relation]float64{}
	if s := t.Rows("pg_index_sizes"); s != nil {
		for i := range s.Len() {
			sizes[Relation{s.Str(i, "datname"), s.Str(i, "schemaname"), s.Str(i, "indexrelname")}] = s.Float(i, "size_bytes")
		}
	}
	return each(t.Rows("pg_stat_user_indexes"), func(r *Rows, i int) Index {
		ix := Index{
			Relation:         Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "indexrelname")},
			Table:            r.Str(i, "relname"),
			Scans:            r.Float(i, "idx_scan"),
			Unique:           r.Bool(i, "is_unique"),
			Primary:          r.Bool(i, "is_primary"),
			Valid:            r.Bool(i, "is_valid"),
			ConstraintBacked: r.Bool(i, "constraint_backed"),
		}
		size, ok := sizes[ix.Relation]
		if !ok {
			// no size query result (yet): the page count of the last VACUUM or ANALYZE
			size = r.Float(i, "relpages") * blockSize
		}
		ix.SizeBytes = size
		return ix
	})
}

// IndexDef is an index's definition.
type IndexDef struct {
	Relation
	Table          string
	Method         string
	Columns        []string // key columns; "(expression)" for an expression
	Options        string   // indoption: per-column DESC / NULLS FIRST flags
	Opclasses      string
	Collations     string
	Predicate      string
	Expressions    string
	Unique         bool
	Primary        bool
	Exclusion      bool
	Valid          bool
	ConstraintType string // p, u, x or "" when no constraint uses the index
}

// IndexDefs returns pg_index_definitions.
func (t *Target) IndexDefs() []IndexDef {
	return each(t.Rows("pg_index_definitions"), func(r *Rows, i int) IndexDef {
		d := IndexDef{
			Relation:       Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "indexrelname")},
			Table:          r.Str(i, "relname"),
			Method:         r.Str(i, "amname"),
			Options:        r.Str(i, "options"),
			Opclasses:      r.Str(i, "opclasses"),
			Collations:     r.Str(i, "collations"),
			Predicate:      r.Str(i, "predicate"),
			Expressions:    r.Str(i, "expressions"),
			Unique:         r.Bool(i, "indisunique"),
			Primary:        r.Bool(i, "indisprimary"),
			Exclusion:      r.Bool(i, "indisexclusion"),
			Valid:          r.Bool(i, "indisvalid"),
			ConstraintType: r.Str(i, "constraint_type"),
		}
		if c := r.Str(i, "key_columns"); c != "" {
			d.Columns = strings.Split(c, ",")
		}
		return d
	})
}

// Statement is one normalized statement's counters since pg_stat_statements was reset.
type Statement struct {
	QueryID, Database, User, Text string
	Calls, Seconds                float64
}

// Key identifies a statement across snapshots.
func (s Statement) Key() string { return s.Database + "\x00" + s.User + "\x00" + s.QueryID }

// Statements returns pg_stat_statements_advisor: the slowest and most expensive statements.
func (t *Target) Statements() []Statement {
	return each(t.Rows("pg_stat_statements_advisor"), func(r *Rows, i int) Statement {
		return Statement{
			QueryID: r.Str(i, "queryid"), Database: r.Str(i, "datname"), User: r.Str(i, "user"),
			Text: r.Str(i, "query"), Calls: r.Float(i, "calls"), Seconds: r.Float(i, "seconds"),
		}
	})
}

// StatementsReset is when pg_stat_statements was last reset (zero when unknown).
func (t *Target) StatementsReset() time.Time {
	if r := t.Rows("pg_stat_statements_info"); r != nil && r.Len() > 0 {
		// stats_reset is exported as a timestamp; the facts keep the time
		return r.Time(0, "stats_reset")
	}
	return time.Time{}
}

// Standby is a streaming replica as its primary sees it (pg_stat_replication).
type Standby struct {
	Name, ClientAddr, State, SyncState, Slot string
	SentLagBytes, ReplayLagBytes             float64
	ReplayLagSeconds                         float64
}

// Standbys returns the primary's pg_stat_replication.
func (t *Target) Standbys() []Standby {
	return each(t.Rows("pg_stat_replication"), func(r *Rows, i int) Standby {
		return Standby{
			Name: r.Str(i, "application_name"), ClientAddr: r.Str(i, "client_addr"),
			State: r.Str(i, "state"), SyncState: r.Str(i, "sync_state"), Slot: r.Str(i, "slot_name"),
			SentLagBytes: r.Float(i, "sent_lag_bytes"), ReplayLagBytes: r.Float(i, "replay_lag_bytes"),
			ReplayLagSeconds: r.Float(i, "replay_lag_seconds"),
		}
	})
}

// Recovery is a replica's view of its replication (pg_replication).
type Recovery struct {
	ReplayLagBytes    float64
	LagSeconds        float64
	LastReplaySeconds float64
	Paused            bool
	Streaming         bool
}

// Recovery returns the replica side of replication, nil on a primary.
func (t *Target) Recovery() *Recovery {
	r := t.Rows("pg_replication")
	if r == nil || r.Len() == 0 || !r.Bool(0, "is_replica") {
		return nil
	}
	return &Recovery{
		ReplayLagBytes: r.Float(0, "replay_lag_bytes"), LagSeconds: r.Float(0, "lag_seconds"),
		LastReplaySeconds: r.Float(0, "last_replay_seconds"), Paused: r.Bool(0, "replay_paused"),
		Streaming: r.Bool(0, "streaming"),
	}
}

// Timeline returns the server's timeline and whether it is known (pg_replication): on a
// primary the timeline it writes WAL on, on a replica that of its latest restartpoint. A
// promotion starts a new timeline.
func (t *Target) Timeline() (int, bool) {
	r := t.Rows("pg_replication")
	if r == nil || r.Len() == 0 {
		return 0, false
	}
	v, ok := r.Num(0, "timeline_id")
	return int(v), ok
}

// Slot is a replication slot.
type Slot struct {
	Name, Type, Database, WALStatus string
	Active                          bool
	RetainedBytes                   float64
}

// Slots returns pg_replication_slots.
func (t *Target) Slots() []Slot {
	return each(t.Rows("pg_replication_slots"), func(r *Rows, i int) Slot {
		return Slot{
			Name: r.Str(i, "slot_name"), Type: r.Str(i, "slot_type"), Database: r.Str(i, "database"),
			WALStatus: r.Str(i, "wal_status"), Active: r.Bool(i, "active"), RetainedBytes: r.Float(i, "retained_bytes"),
		}
	})
}

// Setting is a server parameter.
type Setting struct {
	Name, Setting, Unit, Type, Source string
	// Value is the setting in base units (seconds, bytes), for numeric and boolean settings.
	Value    float64
	IsNumber bool
}

// Settings returns pg_settings by name.
func (t *Target) Settings() map[string]Setting {
	r := t.Rows("pg_settings")
	if r == nil {
		return nil
	}
	out := make(map[string]Setting, r.Len())
	for i := range r.Len() {
		s := Setting{Name: r.Str(i, "name"), Setting: r.Str(i, "setting"), Unit: r.Str(i, "unit"),
			Type: r.Str(i, "vartype"), Source: r.Str(i, "source")}
		s.Value, s.IsNumber = r.Num(i, "value")
		out[s.Name] = s
	}
	return out
}

// Database is one database of the server.
type Database struct {
	Name                     string
	SizeBytes                float64
	FrozenXIDAge, MinMXIDAge float64
	StatsReset               time.Time
}

// Databases returns pg_database with pg_stat_database's stats_reset.
func (t *Target) Databases() []Database {
	resets := map[string]time.Time{}
	if s := t.Rows("pg_stat_database"); s != nil {
		for i := range s.Len() {
			resets[s.Str(i, "datname")] = s.Time(i, "stats_reset")
		}
	}
	return each(t.Rows("pg_database"), func(r *Rows, i int) Database {
		d := Database{Name: r.Str(i, "datname"), SizeBytes: r.Float(i, "size_bytes"),
			FrozenXIDAge: r.Float(i, "datfrozenxid_age"), MinMXIDAge: r.Float(i, "datminmxid_age")}
		d.StatsReset = resets[d.Name]
		return d
	})
}

// StartTime is when the server started (zero when unknown).
func (t *Target) StartTime() time.Time {
	if r := t.Rows("pg_system"); r != nil && r.Len() > 0 {
		if v, ok := r.Num(0, "start_time"); ok {
			return time.Unix(0, int64(v*1e9)).UTC()
		}
	}
	return time.Time{}
}

// Oldest is the age of the oldest work on the server, in seconds (transactions).
type Oldest struct {
	XactAge, IdleInTransactionAge, QueryAge float64
	XminAge                                 float64 // in transactions
	IdleInTransaction                       float64 // sessions
}

// Oldest returns pg_stat_activity_oldest.
func (t *Target) Oldest() *Oldest {
	r := t.Rows("pg_stat_activity_oldest")
	if r == nil || r.Len() == 0 {
		return nil
	}
	return &Oldest{XactAge: r.Float(0, "xact_age"), IdleInTransactionAge: r.Float(0, "idle_in_transaction_age"),
		QueryAge: r.Float(0, "active_query_age"), XminAge: r.Float(0, "backend_xmin_age"),
		IdleInTransaction: r.Float(0, "idle_in_transaction")}
}

// Session is one of the oldest transactions (pg_stat_activity_long).
type Session struct {
	PID                                int64
	Database, User, Application, State string
	XactAge, StateAge                  float64
	Query                              string
}

// LongSessions returns the oldest transactions.
func (t *Target) LongSessions() []Session {
	return each(t.Rows("pg_stat_activity_long"), func(r *Rows, i int) Session {
		return Session{PID: int64(r.Float(i, "pid")), Database: r.Str(i, "datname"), User: r.Str(i, "usename"),
			Application: r.Str(i, "application_name"), State: r.Str(i, "state"),
			XactAge: r.Float(i, "xact_age"), StateAge: r.Float(i, "state_age"), Query: r.Str(i, "query")}
	})
}

// Connections is the use of connection slots.
type Connections struct{ Used, Max, Reserved float64 }

// Connections returns pg_connections.
func (t *Target) Connections() *Connections {
	r := t.Rows("pg_connections")
	if r == nil || r.Len() == 0 {
		return nil
	}
	return &Connections{Used: r.Float(0, "used"), Max: r.Float(0, "max"), Reserved: r.Float(0, "reserved")}
}

// Sequence is a sequence and how much of its range it used.
type Sequence struct {
	Relation
	DataType             string
	LastValue, UsedRatio float64
	Cycle                bool
}

// Sequences returns pg_sequences.
func (t *Target) Sequences() []Sequence {
	return each(t.Rows("pg_sequences"), func(r *Rows, i int) Sequence {
		return Sequence{Relation: Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "sequencename")},
			DataType: r.Str(i, "data_type"), LastValue: r.Float(i, "last_value"), UsedRatio: r.Float(i, "used_ratio"),
			Cycle: r.Bool(i, "cycle")}
	})
}

// Bloat is the estimated, and maybe measured, bloat of a table or index.
type Bloat struct {
	Relation
	Table         string // for an index
	Bytes         float64
	BloatBytes    float64
	EstimateRatio float64
	Measured      float64
	HasMeasured   bool
	// Fillfactor of an index (the ratios are against the index packed at it), in percent
	Fillfactor float64
}

func (t *Target) bloat(query string, index bool) []Bloat {
	return each(t.Rows(query), func(r *Rows, i int) Bloat {
		b := Bloat{Bytes: r.Float(i, "bytes"), BloatBytes: r.Float(i, "bloat_bytes"), EstimateRatio: r.Float(i, "bloat_ratio")}
		b.Measured, b.HasMeasured = r.Num(i, "measured_ratio")
		if index {
			b.Relation = Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "indexrelname")}
			b.Table = r.Str(i, "relname")
			b.Fillfactor = r.Float(i, "fillfactor")
		} else {
			b.Relation = Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "relname")}
		}
		return b
	})
}

// TableBloat returns pg_table_bloat.
func (t *Target) TableBloat() []Bloat { return t.bloat("pg_table_bloat", false) }

// IndexBloat returns pg_index_bloat.
func (t *Target) IndexBloat() []Bloat { return t.bloat("pg_index_bloat", true) }

// each decodes every row of a result with f; nil when the target has no result for the query.
func each[T any](r *Rows, f func(r *Rows, i int) T) []T {
	if r == nil {
		return nil
	}
	out := make([]T, 0, r.Len())
	for i := range r.Len() {
		out = append(out, f(r, i))
	}
	return out
}
