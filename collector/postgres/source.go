// Package postgres is the PostgreSQL source: it runs the SQL of query packs through one small
// pgx pool per target, on read-only sessions with server-side timeouts.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

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
}

// Source runs queries on one PostgreSQL server.
type Source struct {
	pool *pgxpool.Pool
}

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
	// Sent in the startup packet: no extra round trip, and in force before the first query.
	cc.RuntimeParams["application_name"] = ApplicationName
	cc.RuntimeParams["default_transaction_read_only"] = "on"
	if opts.StatementTimeout > 0 {
		cc.RuntimeParams["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	if opts.LockTimeout > 0 {
		cc.RuntimeParams["lock_timeout"] = strconv.FormatInt(opts.LockTimeout.Milliseconds(), 10)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the connection pool: %w", err)
	}
	return &Source{pool: pool}, nil
}

// probeSQL learns, in one statement, everything queries are gated on.
const probeSQL = `SELECT current_setting('server_version_num')::int,
       pg_is_in_recovery(),
       coalesce((SELECT array_agg(extname::text) FROM pg_extension), '{}')`

// Probe checks that the server answers and reports its version, role and extensions. It runs
// at every gather, so a promoted replica is seen as a primary without reconnecting.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) {
	var (
		info     queries.ServerInfo
		recovery bool
		exts     []string
	)
	err := s.pool.QueryRow(ctx, probeSQL).Scan(&info.Version, &recovery, &exts)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) && ctx.Err() == nil {
		// A connection broken by a server restart fails once and leaves the pool; the
		// retry gets a new one, so a restart does not read as a down server.
		err = s.pool.QueryRow(ctx, probeSQL).Scan(&info.Version, &recovery, &exts)
	}
	if err != nil {
		return info, fmt.Errorf("probe: %w", err)
	}
	info.Role = queries.RolePrimary
	if recovery {
		info.Role = queries.RoleReplica
	}
	info.Features = make(map[string]bool, len(exts))
	for _, e := range exts {
		info.Features["extension:"+e] = true
	}
	return info, nil
}

// Run executes the body's statement and reads all rows.
func (s *Source) Run(ctx context.Context, _ *queries.Query, body *queries.Body) (*queries.Rows, error) {
	return s.query(ctx, body.SQL)
}

func (s *Source) query(ctx context.Context, stmt string) (*queries.Rows, error) {
	rows, err := s.pool.Query(ctx, stmt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	out := &queries.Rows{Columns: make([]string, len(fds))}
	for i, fd := range fds {
		out.Columns[i] = fd.Name
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = normalize(v)
		}
		out.Values = append(out.Values, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Close closes the pool.
func (s *Source) Close() { s.pool.Close() }

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

// Stat returns the pool's statistics (for tests and the landing page).
func (s *Source) Stat() *pgxpool.Stat { return s.pool.Stat() }
