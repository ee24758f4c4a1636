package facts

import (
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
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
	// HasSize: whether the sizes are known.
	HasSize bool
}

// PostgresFacts are a PostgreSQL server's facts.
type PostgresFacts struct {
	// Tables are pg_stat_user_tables, with sizes from pg_table_sizes when available.
	Tables []Table
	// Indexes are pg_stat_user_indexes, with sizes from pg_index_sizes when available, else
	// estimated from relpages.
	Indexes   []Index
	IndexDefs []IndexDef // pg_index_definitions
	// Statements are pg_stat_statements_advisor: the slowest and most expensive statements.
	Statements []Statement
	// StatementsReset is when pg_stat_statements was last reset (zero when unknown).
	StatementsReset time.Time
	Standbys        []Standby // the primary's pg_stat_replication
	// Recovery is the replica side of replication, nil on a primary.
	Recovery *Recovery
	// Timeline is the server's timeline (pg_replication; HasTimeline: whether it is known): on
	// a primary the timeline it writes WAL on, on a replica that of its latest restartpoint. A
	// promotion starts a new timeline.
	Timeline    int
	HasTimeline bool
	Slots       []Slot             // pg_replication_slots
	Settings    map[string]Setting // pg_settings by name
	// Databases are pg_database with pg_stat_database's stats_reset.
	Databases []Database
	// StartTime is when the server started (zero when unknown).
	StartTime    time.Time
	Oldest       *Oldest      // pg_stat_activity_oldest
	LongSessions []Session    // pg_stat_activity_long: the oldest transactions
	Connections  *Connections // pg_connections
	Sequences    []Sequence   // pg_sequences
	TableBloat   []Bloat      // pg_table_bloat
	IndexBloat   []Bloat      // pg_index_bloat
	// CronJobs, PartitionedTables and Subscriptions: scheduled work and logical replication
	// (postgres_jobs.go).
	CronJobs          []CronJob
	PartitionedTables []PartitionedTable
	Subscriptions     []Subscription
}

// postgres decodes the PostgreSQL facts.
func (d *decoder) postgres() {
	t := d.t
	if s := first(d.rows("pg_system"), func(r *Rows) string { return r.Str(0, "system_identifier") }); s != nil && t.Kind == queries.SourcePostgres {
		t.SystemID = *s
	}
	t.Tables, t.Indexes, t.IndexDefs = d.tables(), d.indexes(), d.indexDefs()
	t.Statements, t.StatementsReset = d.statements(), d.statementsReset()
	t.Standbys, t.Recovery, t.Slots = d.standbys(), d.recovery(), d.slots()
	t.Timeline, t.HasTimeline = d.timeline()
	t.Settings, t.Databases, t.StartTime = d.settings(), d.databases(), d.startTime()
	t.Oldest, t.LongSessions, t.Connections = d.oldest(), d.longSessions(), d.connections()
	t.Sequences = d.sequences()
	t.TableBloat, t.IndexBloat = d.bloat("pg_table_bloat", false), d.bloat("pg_index_bloat", true)
	t.CronJobs, t.PartitionedTables, t.Subscriptions = d.cronJobs(), d.partitionedTables(), d.subscriptions()
}

// tables decodes pg_stat_user_tables, with sizes from pg_table_sizes when available.
func (d *decoder) tables() []Table {
	sizes := map[Relation][3]float64{}
	forEach(d.rows("pg_table_sizes"), func(s *Rows, i int) {
		sizes[s.relation(i, "relname")] =
			[3]float64{s.Float(i, "table_bytes"), s.Float(i, "index_bytes"), s.Float(i, "toast_bytes")}
	})
	return each(d.rows("pg_stat_user_tables"), func(r *Rows, i int) Table {
		tb := Table{
			Relation:        r.relation(i, "relname"),
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
			tb.SizeBytes, tb.IndexBytes, tb.ToastBytes, tb.HasSize = sz[0], sz[1], sz[2], true
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

func (d *decoder) indexes() []Index {
	sizes := map[Relation]float64{}
	forEach(d.rows("pg_index_sizes"), func(s *Rows, i int) {
		sizes[s.relation(i, "indexrelname")] = s.Float(i, "size_bytes")
	})
	return each(d.rows("pg_stat_user_indexes"), func(r *Rows, i int) Index {
		ix := Index{
			Relation:         r.relation(i, "indexrelname"),
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

func (d *decoder) indexDefs() []IndexDef {
	return each(d.rows("pg_index_definitions"), func(r *Rows, i int) IndexDef {
		d := IndexDef{
			Relation:       r.relation(i, "indexrelname"),
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

func (d *decoder) statements() []Statement {
	return each(d.rows("pg_stat_statements_advisor"), func(r *Rows, i int) Statement {
		return Statement{
			QueryID: r.Str(i, "queryid"), Database: r.Str(i, "datname"), User: r.Str(i, "user"),
			Text: r.Str(i, "query"), Calls: r.Float(i, "calls"), Seconds: r.Float(i, "seconds"),
		}
	})
}

func (d *decoder) statementsReset() time.Time {
	// stats_reset is exported as a timestamp; the facts keep the time
	return value(first(d.rows("pg_stat_statements_info"), func(r *Rows) time.Time { return r.Time(0, "stats_reset") }))
}

// Standby is a streaming replica as its primary sees it (pg_stat_replication).
type Standby struct {
	Name, ClientAddr, State, SyncState, Slot string
	SentLagBytes, ReplayLagBytes             float64
	ReplayLagSeconds                         float64
}

func (d *decoder) standbys() []Standby {
	return each(d.rows("pg_stat_replication"), func(r *Rows, i int) Standby {
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

func (d *decoder) recovery() *Recovery {
	rec := first(d.rows("pg_replication"), func(r *Rows) *Recovery {
		if !r.Bool(0, "is_replica") {
			return nil
		}
		return &Recovery{
			ReplayLagBytes: r.Float(0, "replay_lag_bytes"), LagSeconds: r.Float(0, "lag_seconds"),
			LastReplaySeconds: r.Float(0, "last_replay_seconds"), Paused: r.Bool(0, "replay_paused"),
			Streaming: r.Bool(0, "streaming"),
		}
	})
	return value(rec)
}

func (d *decoder) timeline() (int, bool) {
	tl := first(d.rows("pg_replication"), func(r *Rows) *int {
		if v, ok := r.Num(0, "timeline_id"); ok {
			n := int(v)
			return &n
		}
		return nil
	})
	if v := value(tl); v != nil {
		return *v, true
	}
	return 0, false
}

// Slot is a replication slot.
type Slot struct {
	Name, Type, Database, WALStatus string
	Active                          bool
	RetainedBytes                   float64
}

func (d *decoder) slots() []Slot {
	return each(d.rows("pg_replication_slots"), func(r *Rows, i int) Slot {
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

func (d *decoder) settings() map[string]Setting {
	return byKey(each(d.rows("pg_settings"), func(r *Rows, i int) Setting {
		s := Setting{Name: r.Str(i, "name"), Setting: r.Str(i, "setting"), Unit: r.Str(i, "unit"),
			Type: r.Str(i, "vartype"), Source: r.Str(i, "source")}
		s.Value, s.IsNumber = r.Num(i, "value")
		return s
	}), func(s Setting) (string, Setting) { return s.Name, s })
}

// Database is one database of the server.
type Database struct {
	Name string
	// SizeBytes is pg_database_size (HasSize false: not measured, e.g. no CONNECT privilege
	// or the query not gathered).
	SizeBytes                float64
	HasSize                  bool
	FrozenXIDAge, MinMXIDAge float64
	StatsReset               time.Time
}

func (d *decoder) databases() []Database {
	resets := byKey(each(d.rows("pg_stat_database"), func(s *Rows, i int) Database {
		return Database{Name: s.Str(i, "datname"), StatsReset: s.Time(i, "stats_reset")}
	}), func(d Database) (string, time.Time) { return d.Name, d.StatsReset })
	sizes := byKey(each(d.rows("pg_database_size"), func(s *Rows, i int) Database {
		return Database{Name: s.Str(i, "datname"), SizeBytes: s.Float(i, "size_bytes")}
	}), func(d Database) (string, float64) { return d.Name, d.SizeBytes })
	return each(d.rows("pg_database"), func(r *Rows, i int) Database {
		d := Database{Name: r.Str(i, "datname"),
			FrozenXIDAge: r.Float(i, "datfrozenxid_age"), MinMXIDAge: r.Float(i, "datminmxid_age")}
		d.SizeBytes, d.HasSize = sizes[d.Name]
		d.StatsReset = resets[d.Name]
		return d
	})
}

func (d *decoder) startTime() time.Time {
	return value(first(d.rows("pg_system"), func(r *Rows) time.Time {
		if v, ok := r.Num(0, "start_time"); ok {
			return time.Unix(0, int64(v*1e9)).UTC()
		}
		return time.Time{}
	}))
}

// Oldest is the age of the oldest work on the server, in seconds (transactions).
type Oldest struct {
	XactAge, IdleInTransactionAge, QueryAge float64
	XminAge                                 float64 // in transactions
	IdleInTransaction                       float64 // sessions
}

func (d *decoder) oldest() *Oldest {
	return first(d.rows("pg_stat_activity_oldest"), func(r *Rows) Oldest {
		return Oldest{XactAge: r.Float(0, "xact_age"), IdleInTransactionAge: r.Float(0, "idle_in_transaction_age"),
			QueryAge: r.Float(0, "active_query_age"), XminAge: r.Float(0, "backend_xmin_age"),
			IdleInTransaction: r.Float(0, "idle_in_transaction")}
	})
}

// Session is one of the oldest transactions (pg_stat_activity_long).
type Session struct {
	PID                                int64
	Database, User, Application, State string
	XactAge, StateAge                  float64
	Query                              string
}

func (d *decoder) longSessions() []Session {
	return each(d.rows("pg_stat_activity_long"), func(r *Rows, i int) Session {
		return Session{PID: int64(r.Float(i, "pid")), Database: r.Str(i, "datname"), User: r.Str(i, "usename"),
			Application: r.Str(i, "application_name"), State: r.Str(i, "state"),
			XactAge: r.Float(i, "xact_age"), StateAge: r.Float(i, "state_age"), Query: r.Str(i, "query")}
	})
}

// Connections is the use of connection slots.
type Connections struct{ Used, Max, Reserved float64 }

func (d *decoder) connections() *Connections {
	return first(d.rows("pg_connections"), func(r *Rows) Connections {
		return Connections{Used: r.Float(0, "used"), Max: r.Float(0, "max"), Reserved: r.Float(0, "reserved")}
	})
}

// Sequence is a sequence and how much of its range it used.
type Sequence struct {
	Relation
	DataType             string
	LastValue, UsedRatio float64
	Cycle                bool
}

func (d *decoder) sequences() []Sequence {
	return each(d.rows("pg_sequences"), func(r *Rows, i int) Sequence {
		return Sequence{Relation: r.relation(i, "sequencename"),
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

func (d *decoder) bloat(query string, index bool) []Bloat {
	return each(d.rows(query), func(r *Rows, i int) Bloat {
		b := Bloat{Bytes: r.Float(i, "bytes"), BloatBytes: r.Float(i, "bloat_bytes"), EstimateRatio: r.Float(i, "bloat_ratio")}
		b.Measured, b.HasMeasured = r.Num(i, "measured_ratio")
		if index {
			b.Relation = r.relation(i, "indexrelname")
			b.Table = r.Str(i, "relname")
			b.Fillfactor = r.Float(i, "fillfactor")
		} else {
			b.Relation = r.relation(i, "relname")
		}
		return b
	})
}

// relation reads a relation from the datname and schemaname columns and the name column.
func (r *Rows) relation(i int, name string) Relation {
	return Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, name)}
}

// value is what p points to, the zero value for nil.
func value[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// byKey indexes a list by a key of its elements.
func byKey[E any, K comparable, V any](list []E, kv func(E) (K, V)) map[K]V {
	if list == nil {
		return nil
	}
	out := make(map[K]V, len(list))
	for _, e := range list {
		k, v := kv(e)
		out[k] = v
	}
	return out
}
