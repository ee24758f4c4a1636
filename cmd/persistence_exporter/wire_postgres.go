package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func buildPostgres(w *wiring) error {
	for _, p := range w.cfg.Targets.Postgres {
		src, err := postgres.New(postgres.Options{
			DSN:              p.ResolvedDSN,
			MaxConns:         p.MaxConnections,
			StatementTimeout: p.StatementTimeout,
			LockTimeout:      p.LockTimeout,
			ConnectTimeout:   p.QueryTimeout,
		})
		if err != nil {
			return fmt.Errorf("postgres target %q: %w", p.Name, err)
		}
		w.add(&collector.Target{
			Name: p.Name, Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src,
			Queries: w.set.For(queries.SourcePostgres), Timeout: p.QueryTimeout, Parallel: p.MaxConnections,
		}, postgresAddress(p.ResolvedDSN))
	}
	return nil
}

// postgresAddress is host:port/database of a DSN, without user or password.
func postgresAddress(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	host := c.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return host + "/" + c.Database
}
