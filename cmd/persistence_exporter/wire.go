package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// wiring is everything serve and check-config build from the configuration.
type wiring struct {
	cfg     *config.Config
	set     *queries.Set
	engine  *collector.Engine
	entries []targetEntry
	// unsupported lists targets that are configured and valid but have no source yet.
	unsupported []string
}

// targetEntry describes a target for people: the landing page and logs. It never holds a
// secret.
type targetEntry struct {
	Name, Kind, Address string
}

// load reads the configuration and the packs and builds one source per target. This is the
// one table of what runs: each target kind, its source and its up metric.
func load(file string, red *secret.Redactor, logger *slog.Logger) (*wiring, error) {
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	red.Add(cfg.Secrets()...)
	packs, err := queries.Defaults()
	if err != nil {
		return nil, fmt.Errorf("the embedded packs: %w", err)
	}
	user, err := queries.LoadPaths(cfg.Packs)
	if err != nil {
		return nil, err
	}
	set, err := queries.NewSet(packs, user)
	if err != nil {
		return nil, err
	}
	for _, r := range set.Replaced {
		logger.Info("a user pack replaces a default query", "query", r.Default.Name,
			"default", fmt.Sprintf("%s:%d", r.Default.File, r.Default.Line), "by", fmt.Sprintf("%s:%d", r.By.File, r.By.Line))
	}
	w := &wiring{cfg: cfg, set: set}
	var targets []*collector.Target
	var errs []error
	for _, p := range cfg.Targets.Postgres {
		src, err := postgres.New(postgres.Options{
			DSN:              p.ResolvedDSN,
			MaxConns:         p.MaxConnections,
			StatementTimeout: p.StatementTimeout,
			LockTimeout:      p.LockTimeout,
			ConnectTimeout:   p.QueryTimeout,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("postgres target %q: %w", p.Name, err))
			continue
		}
		targets = append(targets, &collector.Target{
			Name: p.Name, Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src,
			Queries: set.For(queries.SourcePostgres), Timeout: p.QueryTimeout, Parallel: p.MaxConnections,
		})
		w.entries = append(w.entries, targetEntry{p.Name, "postgres", postgresAddress(p.ResolvedDSN)})
	}
	for _, r := range cfg.Targets.Redis {
		w.unsupported = append(w.unsupported, r.Name)
		w.entries = append(w.entries, targetEntry{r.Name, "redis", r.Addr})
	}
	for _, e := range cfg.Targets.Elasticsearch {
		w.unsupported = append(w.unsupported, e.Name)
		w.entries = append(w.entries, targetEntry{e.Name, "elasticsearch", red.String(strings.Join(e.URLs, ", "))})
	}
	for _, b := range cfg.Targets.Pgbackrest {
		w.unsupported = append(w.unsupported, b.Name)
		w.entries = append(w.entries, targetEntry{b.Name, "pgbackrest", "stanza " + b.Stanza})
	}
	if len(w.unsupported) > 0 {
		logger.Warn("these targets are valid but this version has no source for their kind yet; they are not scraped",
			"targets", strings.Join(w.unsupported, ", "))
	}
	w.engine = collector.NewEngine(targets, logger)
	if err := errors.Join(errs...); err != nil {
		w.engine.Close()
		return nil, err
	}
	return w, nil
}

func (w *wiring) summary() string {
	n := 0
	for _, p := range w.set.Packs {
		n += len(p.Queries)
	}
	return fmt.Sprintf("%d targets (%d scraped), %d packs, %d queries", len(w.entries), len(w.engine.Targets), len(w.set.Packs), n)
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
