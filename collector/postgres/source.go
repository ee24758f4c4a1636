// Package postgres is the PostgreSQL source: it runs the SQL of query packs through small,
// long-lived pgx pools, on read-only sessions with server-side timeouts. It also reads
// pgbouncer's admin console, which speaks the same protocol (NewPgbouncer).
package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/persistence-exporter/persistence_exporter/internal/lanes"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// ApplicationName is what the exporter's sessions show in pg_stat_activity.
const ApplicationName = "persistence_exporter"

// Options configure a source.
type Options struct {
	DSN              string
	MaxConns         int
	StatementTimeout time.Duration
	LockTimeout      time.Duration
	// ConnectTimeout bounds a new connection when the DSN sets none.
	ConnectTimeout time.Duration
	// Databases and Schemas filter what is watched: database-scoped queries run in the
	// databases that match, and rows whose datname or schemaname column does not match are
	// dropped. Nil filters allow everything.
	Databases, Schemas *Filter
	Logger             *slog.Logger
}

// Filter allows names that match an include pattern (any, when there is none) and no exclude
// pattern. Patterns are anchored regular expressions.
type Filter struct {
	Include, Exclude []*regexp.Regexp
}

// Allows reports whether name passes the filter. A nil filter allows everything.
func (f *Filter) Allows(name string) bool {
	if f == nil {
		return true
	}
	match := func(res []*regexp.Regexp) bool {
		return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(name) })
	}
	return (len(f.Include) == 0 || match(f.Include)) && !match(f.Exclude)
}

// Source runs queries on one PostgreSQL server.
type Source struct {
	// the pools are made at the first probe, not at load: a configuration of many targets
	// (or an exporter that serves only its shard of them through /probe) costs no pool and
	// no goroutine for a target never gathered
	openOnce sync.Once
	open     *pools
	openErr  error
	cfg      *pgxpool.Config
	dsnDB    string
	opts     Options
	probe    func(ctx context.Context) (queries.ServerInfo, error)
	// pgbouncer is set for pgbouncer's admin console
	pgbouncer bool
	log       *slog.Logger
	sizes     sync.Map // statement -> rows of its last result
	locks     sync.Map // statement -> true once it was seen waiting for or holding a user relation's lock
	// extensions shares a database's extension-list read between the concurrent queries
	// of a gather that find it stale
	extensions share.Flight[map[string]string]

	mu        sync.Mutex
	version   int                  // server_version_num, from the last probe
	databases []string             // watched databases, from the last probe
	others    map[string]*database // pools of watched databases other than the DSN's
	skipped   map[string]bool      // databases the exporter may not connect to (logged once)
}

// pools are the DSN database's pool, with its lanes, and the probe's own connection (for
// pgbouncer's probe too, which goes through query): the probe never queues behind a query.
type pools struct {
	main, probe *database
}

// pools makes the pools on first use.
func (s *Source) pools() (*pools, error) {
	s.openOnce.Do(func() {
		pool, err := pgxpool.NewWithConfig(context.Background(), s.cfg)
		if err != nil {
			s.openErr = fmt.Errorf("creating the connection pool: %w", err)
			return
		}
		probeCfg := s.cfg.Copy()
		probeCfg.MaxConns = 1
		probe, err := pgxpool.NewWithConfig(context.Background(), probeCfg)
		if err != nil {
			pool.Close()
			s.openErr = fmt.Errorf("creating the probe's connection pool: %w", err)
			return
		}
		p := &pools{main: &database{pool: pool, lanes: lanes.New(int(s.cfg.MaxConns))}, probe: &database{pool: probe, lanes: lanes.New(1)}}
		s.mu.Lock()
		s.open = p
		s.mu.Unlock()
	})
	return s.open, s.openErr
}

// database is a watched database: a small pool kept between scrapes, and its lanes.
type database struct {
	pool   *pgxpool.Pool
	lanes  *lanes.Lanes
	extsMu sync.Mutex // guards exts and extsAt
	exts   map[string]string
	extsAt time.Time
}

// extensionsTTL is how long a database's extension list is trusted.
const extensionsTTL = 5 * time.Minute

// New prepares a pool; it does not connect (a server that is down at start-up is only "down").
func New(opts Options) (*Source, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, errors.New("the DSN does not parse")
	}
	cfg.MaxConns = int32(max(opts.MaxConns, 1))
	cfg.MinConns = 0
	// One long-lived pool: connections are kept between scrapes, never opened per scrape.
	cfg.MaxConnIdleTime = 10 * time.Minute
	cfg.MaxConnLifetime = time.Hour
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = opts.ConnectTimeout
	}
	// Large results (a row per table of a big catalog) arrive in 8 KiB reads by default; a
	// larger buffer takes an eighth of the system calls.
	cc.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, 64<<10), w)
	}
	// Sent in the startup packet: no extra round trip, and in force before the first query.
	cc.RuntimeParams["application_name"] = ApplicationName
	cc.RuntimeParams["default_transaction_read_only"] = "on"
	// No parallel workers: a catalog-wide statement of the advisor's would otherwise take
	// worker slots (max_parallel_workers is shared with the applications) and more of the
	// server's CPU in all, to finish a little sooner.
	cc.RuntimeParams["max_parallel_workers_per_gather"] = "0"
	if opts.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	if opts.LockTimeout > 0 {
		cc.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10)
	}
	s, err := newSource(cfg, opts)
	if err != nil {
		return nil, err
	}
	s.probe = s.probePostgres
	return s, nil
}

func newSource(cfg *pgxpool.Config, opts Options) (*Source, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, dsnDB: cfg.ConnConfig.Database, opts: opts, log: log,
		others: map[string]*database{}, skipped: map[string]bool{}}, nil
}

// ProbeSQL learns, in one statement, everything queries are gated on, and the databases.
const ProbeSQL = `SELECT current_setting('server_version_num')::int,
       pg_is_in_recovery(),
       coalesce((SELECT array_agg(extname || '=' || extversion) FROM pg_extension), '{}'),
       coalesce((SELECT array_agg(datname::text ORDER BY datname) FROM pg_database
                 WHERE datallowconn AND NOT datistemplate), '{}')`

// SchedulesQueries tells the engine that the source queues queries on its lanes itself.
func (s *Source) SchedulesQueries() {}

// Probe checks that the server answers and reports its version, role and extensions.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) { return s.probe(ctx) }

// probePostgres runs at every gather, so a promoted replica is seen as a primary without
// reconnecting, and a new database is watched at the next scrape.
func (s *Source) probePostgres(ctx context.Context) (queries.ServerInfo, error) {
	var (
		info     queries.ServerInfo
		recovery bool
		exts     []string
		dbs      []string
	)
	p, err := s.pools()
	if err != nil {
		return info, fmt.Errorf("probe: %w", err)
	}
	scan := func() error {
		return p.probe.pool.QueryRow(ctx, ProbeSQL).Scan(&info.Version, &recovery, &exts, &dbs)
	}
	err = scan()
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) && ctx.Err() == nil {
		// A connection broken by a server restart fails once and leaves the pool; the
		// retry gets a new one, so a restart does not read as a down server.
		err = scan()
	}
	if err != nil {
		return info, fmt.Errorf("probe: %w", err)
	}
	info.Role = queries.RolePrimary
	if recovery {
		info.Role = queries.RoleReplica
	}
	info.Features = extensionFeatures(exts)
	s.setDatabases(info.Version, dbs)
	return info, nil
}

// setDatabases keeps the watched databases and closes the pools of those that went away.
func (s *Source) setDatabases(version int, all []string) {
	var watched []string
	for _, d := range all {
		if s.opts.Databases.Allows(d) {
			watched = append(watched, d)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.databases = version, watched
	for name, db := range s.others {
		if !slices.Contains(watched, name) {
			if s.open == nil || db != s.open.main {
				db.pool.Close()
			}
			delete(s.others, name)
		}
	}
}

// extensionFeatures turns "name=version" pairs into features.
func extensionFeatures(exts []string) map[string]string {
	f := make(map[string]string, len(exts))
	for _, e := range exts {
		name, version, _ := strings.Cut(e, "=")
		f["extension:"+name] = version
	}
	return f
}

// Run executes the body's statement: once, or in every watched database for a
// database-scoped query.
func (s *Source) Run(ctx context.Context, q *queries.Query, body queries.Body) (*queries.Rows, error) {
	if q.Scope != queries.ScopeDatabase {
		p, err := s.pools()
		if err != nil {
			return nil, err
		}
		rows, err := s.query(ctx, p.main, s.tagged(q.Name, sqlOf(body)), s.topArgs(ctx, q)...)
		if err != nil {
			return nil, err
		}
		return s.filter(rows), nil
	}
	return s.runEachDatabase(ctx, q)
}

// topArgs are the parameters of a statement that chooses its top rows (Top.Pushdown): the
// number of rows the gather asks for, or NULL for every row. Rows the filters drop after the
// statement (schemas; databases, for a query that is not run per database) could take the
// top's places: with those filters, every row is read and the metrics choose.
func (s *Source) topArgs(ctx context.Context, q *queries.Query) []any {
	if !q.PushesDownTop() {
		return nil
	}
	filtered := s.opts.Schemas != nil || (s.opts.Databases != nil && q.Scope != queries.ScopeDatabase)
	if n, ok := queries.RowLimit(ctx); ok && !filtered {
		return []any{int64(n)}
	}
	return []any{nil}
}

// Prepare has the server parse and plan-check the body's statement without running it (in
// each watched database that has what it needs, for a database-scoped query): a syntax
// error, a missing column or relation, or a missing function is reported as the server
// words it. It is check-config --connect's test of a pack against a real server.
func (s *Source) Prepare(ctx context.Context, q *queries.Query, body queries.Body) error {
	prepare := func(db *database, sql string) error {
		return s.transaction(ctx, db, sql, "", func(ctx context.Context, conn *pgx.Conn) error {
			_, err := conn.PgConn().Prepare(ctx, "", sql, nil)
			return err
		})
	}
	if q.Scope != queries.ScopeDatabase {
		p, err := s.pools()
		if err != nil {
			return err
		}
		return prepare(p.main, sqlOf(body))
	}
	return s.eachDatabase(ctx, q, func(name string, db *database, sql string) error {
		if err := prepare(db, sql); err != nil {
			return fmt.Errorf("database %s: %w", name, err)
		}
		return nil
	})
}

// eachDatabase calls fn with every watched database that has what q requires, and the
// statement of q for it.
func (s *Source) eachDatabase(ctx context.Context, q *queries.Query, fn func(name string, db *database, sql string) error) error {
	s.mu.Lock()
	dbs, version := slices.Clone(s.databases), s.version
	s.mu.Unlock()
	if !slices.Contains(dbs, s.dsnDB) && s.opts.Databases.Allows(s.dsnDB) {
		dbs = append([]string{s.dsnDB}, dbs...)
	}
	for _, name := range dbs {
		db, exts, err := s.database(ctx, name)
		if err != nil {
			return fmt.Errorf("database %s: %w", name, err)
		}
		if db == nil {
			continue // not allowed to connect: logged once
		}
		// requirements and variants are decided per database: extensions live in databases
		var missing bool
		for _, r := range q.Requires {
			missing = missing || !queries.Satisfies(exts, r)
		}
		if missing {
			continue
		}
		sql := sqlOf(q.Body)
		if len(q.Variants) > 0 {
			v := q.VariantFor(version, exts)
			if v == nil {
				continue
			}
			sql = sqlOf(v.Body)
		}
		if err := fn(name, db, sql); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) runEachDatabase(ctx context.Context, q *queries.Query) (*queries.Rows, error) {
	var out *queries.Rows
	args := s.topArgs(ctx, q)
	err := s.eachDatabase(ctx, q, func(name string, db *database, sql string) error {
		rows, err := s.query(ctx, db, s.tagged(q.Name, sql), args...)
		if err != nil {
			return fmt.Errorf("database %s: %w", name, err)
		}
		if out == nil {
			out = rows
		} else if slices.Equal(out.Columns, rows.Columns) {
			out.Append(rows)
		} else {
			return fmt.Errorf("database %s: columns %v differ from %v", name, rows.Columns, out.Columns)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		// no database has what the query needs: an empty result, not an error
		out = &queries.Rows{}
		for _, c := range q.Columns {
			out.Columns = append(out.Columns, c.Name)
		}
	}
	return s.filter(out), nil
}

// database returns a watched database and its extensions; nil means the exporter may not
// connect to it. Each database has a pool as large as the DSN database's, opened lazily:
// its lanes keep one connection for the statistics views while statements that wait for
// a lock hold the others.
func (s *Source) database(ctx context.Context, name string) (*database, map[string]string, error) {
	p, err := s.pools()
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	if s.skipped[name] {
		s.mu.Unlock()
		return nil, nil, nil
	}
	db := s.others[name]
	if db == nil {
		db = p.main
		if name != s.dsnDB {
			cfg := s.cfg.Copy()
			cfg.ConnConfig.Database = name
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			if err != nil {
				s.mu.Unlock()
				return nil, nil, err
			}
			db = &database{pool: pool, lanes: lanes.New(int(cfg.MaxConns))}
		}
		s.others[name] = db
	}
	s.mu.Unlock()
	db.extsMu.Lock()
	exts, fresh := db.exts, time.Since(db.extsAt) <= extensionsTTL
	db.extsMu.Unlock()
	if fresh {
		return db, exts, nil
	}
	// the queries of a gather start at once: one reads the list, the others join its read
	// (each stops waiting when its own context ends)
	timeout := extensionsTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	exts, err = s.extensions.Do(ctx, name, timeout, func(ctx context.Context) (map[string]string, error) {
		return s.readExtensions(ctx, db, name)
	})
	if errors.Is(err, errNotWatched) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return db, exts, nil
}

// extensionsTimeout bounds a read of a database's extension list asked for without a deadline.
const extensionsTimeout = 10 * time.Second

// errNotWatched: the exporter may not connect to the database, or it was dropped.
var errNotWatched = errors.New("database not watched")

// readExtensions reads db's extension list and keeps it for extensionsTTL.
func (s *Source) readExtensions(ctx context.Context, db *database, name string) (map[string]string, error) {
	rows, err := s.query(ctx, db, "SELECT coalesce(array_to_string(array_agg(extname || '=' || extversion), ','), '') FROM pg_extension")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "3D000") {
		// no CONNECT privilege, or dropped since the probe: leave it out
		s.mu.Lock()
		s.skipped[name] = pgErr.Code == "42501"
		s.mu.Unlock()
		s.log.Warn("not watching a database the exporter cannot connect to", "database", name, "err", pgErr.Message)
		return nil, errNotWatched
	}
	if err != nil {
		return nil, err
	}
	var list []string
	if v, _ := rows.Value(0, 0).(string); v != "" {
		list = strings.Split(v, ",")
	}
	exts := extensionFeatures(list)
	db.extsMu.Lock()
	db.exts, db.extsAt = exts, time.Now()
	db.extsMu.Unlock()
	return exts, nil
}

// filter drops rows of databases and schemas that are not watched.
func (s *Source) filter(rows *queries.Rows) *queries.Rows {
	if s.opts.Databases == nil && s.opts.Schemas == nil {
		return rows
	}
	dbCol, schemaCol := slices.Index(rows.Columns, "datname"), slices.Index(rows.Columns, "schemaname")
	if dbCol < 0 && schemaCol < 0 {
		return rows
	}
	ok := func(i, col int, f *Filter) bool {
		if col < 0 || f == nil {
			return true
		}
		name, isString := rows.Value(i, col).(string)
		return !isString || name == "" || f.Allows(name)
	}
	// in place: the rows are this query's own
	rows.Keep(func(i int) bool { return ok(i, dbCol, s.opts.Databases) && ok(i, schemaCol, s.opts.Schemas) })
	return rows
}

// tagged prefixes a pack statement with the tag (not on pgbouncer's console, whose parser
// takes no comments).
func (s *Source) tagged(name, sql string) string {
	if s.pgbouncer {
		return sql
	}
	return queries.StatementTag + name + " */ " + sql
}

// query runs one statement in db, in a read-only transaction (see transaction), and
// reads its rows. pgbouncer's console has no transactions: its SHOW commands run as they are.
func (s *Source) query(ctx context.Context, db *database, stmt string, args ...any) (*queries.Rows, error) {
	var rows *queries.Rows
	err := s.transaction(ctx, db, stmt, "", func(ctx context.Context, conn *pgx.Conn) (err error) {
		rows, err = s.read(ctx, conn, stmt, args...)
		return err
	})
	return rows, err
}

// transaction waits for a lane and a connection of db, then runs fn inside a read-only
// transaction that always ends in ROLLBACK, which also undoes whatever fn's statements
// changed in the session (set_config, SET); session-level advisory locks are released and
// cleanup (more statements, may be empty) runs before the connection goes back to the pool.
// A connection whose transaction could not be ended is closed, never reused. stmt names the
// work for the lanes: whether it may wait for a lock on a user relation is learnt from the
// locks the transaction held.
func (s *Source) transaction(ctx context.Context, db *database, stmt, cleanup string, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	locking := s.mayLock(stmt)
	release, err := db.lanes.Acquire(ctx, locking)
	if err != nil {
		return fmt.Errorf("waiting for a connection: %w", err)
	}
	defer release()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if s.pgbouncer {
		return fn(ctx, conn.Conn())
	}
	pc := conn.Conn().PgConn()
	statement, lock := s.timeouts(ctx)
	begin := fmt.Sprintf("BEGIN READ ONLY; SET LOCAL statement_timeout = %d; SET LOCAL lock_timeout = %d",
		max(statement.Milliseconds(), 1), max(lock.Milliseconds(), 1))
	s.mu.Lock()
	version := s.version
	s.mu.Unlock()
	if version >= 150000 {
		// each statistic is read once: no copy of every entry read into a snapshot (the
		// default, cache, makes one per transaction)
		begin += "; SET LOCAL stats_fetch_consistency = none"
	}
	if _, err := pc.Exec(ctx, begin).ReadAll(); err != nil {
		return fmt.Errorf("beginning a read-only transaction: %w", err)
	}
	err = fn(ctx, conn.Conn())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: lock_timeout
		s.locks.Store(stmt, true)
	}
	// ended even when ctx is done, so that the connection can be kept
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	end := resetSQL
	if cleanup != "" {
		end += "; " + cleanup
	}
	// learnt once per statement: the locks it takes do not change between runs
	_, known := s.locks.Load(stmt)
	learn := err == nil && !locking && !known
	if learn {
		end = locksHeldSQL + "; " + end
	}
	res, endErr := pc.Exec(ectx, end).ReadAll()
	if endErr != nil || pc.TxStatus() != 'I' {
		// the pool destroys a connection left in a transaction; make sure of it
		_ = conn.Conn().Close(ectx)
		if err == nil {
			err = fmt.Errorf("ending the read-only transaction: %w", endErr)
		}
	}
	if learn && endErr == nil && len(res) > 0 && len(res[0].Rows) == 1 {
		s.locks.Store(stmt, string(res[0].Rows[0][0]) != "0")
	}
	return err
}

// resetSQL ends a statement's transaction and what a ROLLBACK does not undo.
const resetSQL = "ROLLBACK; SELECT pg_advisory_unlock_all()"

// locksHeldSQL counts the locks the transaction holds on user tables and indexes (not on
// views or catalogs): a statement that took one can wait behind another session's ACCESS
// EXCLUSIVE lock, and goes in the locking lane from then on.
const locksHeldSQL = `SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.relation >= 16384
   AND c.relkind IN ('r', 'p', 'm', 't', 'i', 'I')`

// mayLock reports whether stmt may wait for a lock on a user relation: what its text says,
// or what an earlier run showed.
func (s *Source) mayLock(stmt string) bool {
	if s.pgbouncer {
		return false
	}
	if v, ok := s.locks.Load(stmt); ok {
		return v.(bool)
	}
	return mayLock(stmt)
}

// timeouts are the statement_timeout and lock_timeout of one statement: the configured ones,
// bounded by the time its context has left (the server ends the statement a little before
// the exporter would give up on it, so the connection stays usable), and a lock wait
// bounded by a quarter of what the scrape that asked for it has left, so that statements
// queued behind a stuck one still run in the same scrape.
func (s *Source) timeouts(ctx context.Context) (statement, lock time.Duration) {
	statement = s.opts.StatementTimeout
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		left -= left / 20
		if statement <= 0 || left < statement {
			statement = left
		}
	}
	lock = s.opts.LockTimeout
	if statement > 0 && (lock <= 0 || statement < lock) {
		lock = statement
	}
	if dl, ok := queries.ScrapeDeadline(ctx); ok {
		if budget := time.Until(dl) / 4; lock <= 0 || budget < lock {
			lock = max(budget, 10*time.Millisecond)
		}
	}
	return statement, lock
}

// read runs one statement and reads all rows into typed columns.
func (s *Source) read(ctx context.Context, conn *pgx.Conn, stmt string, args ...any) (*queries.Rows, error) {
	rows, err := conn.Query(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	names := make([]string, len(fds))
	for i, fd := range fds {
		names[i] = fd.Name
	}
	// the last result of the statement is a good guess of this one's size
	sizeKey := stmt
	if len(args) > 0 {
		sizeKey = fmt.Sprint(stmt, "\x00", args)
	}
	capacity, _ := s.sizes.Load(sizeKey)
	n, _ := capacity.(int)
	dec := newDecoder(conn.TypeMap(), fds, n+n/8)
	for rows.Next() {
		if err := dec.row(rows.RawValues()); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := dec.table.Rows(names)
	s.sizes.Store(sizeKey, out.Len())
	return out, nil
}

// Close closes the pools.
func (s *Source) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, db := range s.others {
		if s.open == nil || db != s.open.main {
			db.pool.Close()
		}
		delete(s.others, name)
	}
	if s.open != nil {
		s.open.main.pool.Close()
		s.open.probe.pool.Close()
	}
}

// normalize turns pgx's decoded values into the few types queries.Rows holds. Intervals
// become seconds; numerics become float64.
func normalize(v any) any {
	switch v := v.(type) {
	case nil, string, bool, int64, float64, time.Time:
		return v
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int8:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		if v > math.MaxInt64 {
			return float64(v)
		}
		return int64(v)
	case float32:
		return float64(v)
	case pgtype.Numeric:
		f, err := v.Float64Value()
		if err != nil || !f.Valid {
			return nil
		}
		return f.Float64
	case pgtype.Interval:
		if !v.Valid {
			return nil
		}
		return float64(v.Microseconds)/1e6 + float64(v.Days)*86400 + float64(v.Months)*30*86400
	case []byte:
		return string(v)
	case netip.Prefix:
		if v.IsSingleIP() {
			return v.Addr().String()
		}
		return v.String()
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}

// Stat returns the statistics of the DSN database's pool (for tests).
func (s *Source) Stat() *pgxpool.Stat {
	p, err := s.pools()
	if err != nil {
		return nil
	}
	return p.main.pool.Stat()
}
