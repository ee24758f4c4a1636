package config

import "time"

// Pgbouncer is a PgBouncer, read through its admin console (the "pgbouncer" database) with
// SHOW commands.
type Pgbouncer struct {
	Name    string `yaml:"name"`
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// Cluster names the deployment the target belongs to (the PostgreSQL cluster's name):
	// the advisor reports its findings with that deployment's.
	Cluster string `yaml:"cluster"`
	// QueryTimeout bounds one SHOW command and the probe.
	QueryTimeout time.Duration `yaml:"query_timeout"`

	ResolvedDSN string `yaml:"-"`
}

func (v *validator) pgbouncer(path []any, b *Pgbouncer) {
	v.name(path, "pgbouncer", b.Name)
	b.ResolvedDSN = v.dsn(path, "pgbouncer", b.Name, b.DSN, b.DSNFile, b.DSNEnv)
	v.duration(path, "query_timeout", &b.QueryTimeout, DefaultQueryTimeout)
}
