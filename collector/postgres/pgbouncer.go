package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// NewPgbouncer prepares a source for pgbouncer's admin console. The console speaks the
// PostgreSQL protocol but only its simple query protocol, and it refuses startup parameters
// it does not know, so the session is left as pgbouncer makes it.
func NewPgbouncer(opts Options) (*Source, error) {
	cfg, err := pgxpool.ParseConfig(opts.DSN)
	if err != nil {
		return nil, errors.New("the DSN does not parse")
	}
	cfg.MaxConns = int32(max(opts.MaxConns, 1))
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	// pgx pings an idle connection with an empty statement, which the console answers; no
	// reset query is needed.
	opts.Databases, opts.Schemas = nil, nil
	s, err := newSource(cfg, opts)
	if err != nil {
		return nil, err
	}
	s.probe = s.probePgbouncer
	s.pgbouncer = true
	return s, nil
}

var pgbouncerVersionRe = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// probePgbouncer reads SHOW VERSION: "PgBouncer 1.18.0" is version 11800.
func (s *Source) probePgbouncer(ctx context.Context) (queries.ServerInfo, error) {
	var info queries.ServerInfo
	p, err := s.pools()
	if err != nil {
		return info, fmt.Errorf("probe: %w", err)
	}
	rows, err := s.query(ctx, p.probe, "SHOW VERSION")
	if err != nil {
		return info, fmt.Errorf("probe: %w", err)
	}
	if rows.Len() == 0 || len(rows.Columns) == 0 {
		return info, errors.New("probe: SHOW VERSION returned nothing")
	}
	text, _ := rows.Value(0, 0).(string)
	m := pgbouncerVersionRe.FindStringSubmatch(text)
	if m == nil {
		return info, fmt.Errorf("probe: cannot read the version in %q", text)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	info.Version = major*10000 + minor*100 + patch
	info.VersionText = text
	info.Features = map[string]string{"feature:pgbouncer": text}
	return info, nil
}
