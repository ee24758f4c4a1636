package config

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

// Postgres is a PostgreSQL server.
type Postgres struct {
	Name string `yaml:"name"`
	// One of DSN, DSNFile and DSNEnv gives the connection string.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// Cluster names the cluster the server belongs to; replicas are also grouped with their
	// primary by system identifier.
	Cluster string `yaml:"cluster"`
	// MaxConnections caps the connections the exporter opens to this server.
	MaxConnections int `yaml:"max_connections"`
	// QueryTimeout bounds one query (unless its pack sets another) and the probe.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// StatementTimeout and LockTimeout are set on the exporter's sessions: the server-side
	// backstop if the exporter cannot cancel a query itself.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	LockTimeout      time.Duration `yaml:"lock_timeout"`

	// ResolvedDSN is the connection string, wherever it came from.
	ResolvedDSN string `yaml:"-"`
}

// Defaults for PostgreSQL targets.
const (
	DefaultMaxConnections   = 2
	DefaultQueryTimeout     = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
	DefaultLockTimeout      = time.Second
)

func (v *validator) postgres(path []any, p *Postgres) {
	v.name(path, "postgres", p.Name)
	dsn := v.oneSecret(path, fmt.Sprintf("postgres target %q", p.Name), true, p.DSN, "dsn", p.DSNFile, "dsn_file", p.DSNEnv, "dsn_env")
	if dsn != "" {
		pw := secret.DSNPasswords(dsn)
		v.c.secrets = append(v.c.secrets, pw...)
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			var red secret.Redactor
			red.Add(pw...)
			red.Add(dsn)
			v.errorf(dsnPath(path, p), "postgres target %q: the DSN does not parse: %s", p.Name, red.String(err.Error()))
		}
		p.ResolvedDSN = dsn
	}
	if p.MaxConnections == 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.MaxConnections < 1 || p.MaxConnections > 20 {
		v.errorf(at(path, "max_connections"), "max_connections %d: want 1 to 20 (the exporter should stay cheap on the server)", p.MaxConnections)
	}
	v.duration(path, "query_timeout", &p.QueryTimeout, DefaultQueryTimeout)
	v.duration(path, "statement_timeout", &p.StatementTimeout, DefaultStatementTimeout)
	v.duration(path, "lock_timeout", &p.LockTimeout, DefaultLockTimeout)
}

func dsnPath(path []any, p *Postgres) []any {
	switch {
	case p.DSNFile != "":
		return at(path, "dsn_file")
	case p.DSNEnv != "":
		return at(path, "dsn_env")
	}
	return at(path, "dsn")
}
