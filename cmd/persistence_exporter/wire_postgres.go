package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func buildPostgres(w *wiring) error {
	// one slice for every target: nothing changes a target's queries in place
	qs := w.set.For(queries.SourcePostgres)
	for _, p := range w.cfg.Targets.Postgres {
		src, err := postgres.New(postgres.Options{
			DSN:              p.ResolvedDSN,
			MaxConns:         p.MaxConnections,
			StatementTimeout: p.StatementTimeout,
			LockTimeout:      p.LockTimeout,
			ConnectTimeout:   p.QueryTimeout,
			Databases:        filter(p.Databases),
			Schemas:          filter(p.Schemas),
			Logger:           targetLogger(w.log, p.Name),
		})
		if err != nil {
			return fmt.Errorf("postgres target %q: %w", p.Name, err)
		}
		w.add(&collector.Target{
			Name: p.Name, Kind: queries.SourcePostgres, UpMetric: "pg_up", Source: src,
			Queries: qs, Timeout: p.QueryTimeout, Parallel: p.MaxConnections,
			TopN: p.TopN,
		}, postgresAddress(p.ResolvedDSN))
		w.pgSources[p.Name] = src
		w.clusters[p.Name] = p.Cluster
	}
	return nil
}

// servedAdvisor is the advisor serve runs: nil when the configuration disables it. Then the
// queries that only feed the advisor (they export nothing) are dropped from the scrapes too.
func (w *wiring) servedAdvisor() *advisor.Runner {
	if !w.adv.Enabled {
		var kept []*queries.Query
		for _, q := range w.set.For(queries.SourcePostgres) {
			if q.Exports() {
				kept = append(kept, q)
			}
		}
		for _, t := range w.targets {
			if t.Kind == queries.SourcePostgres {
				t.Queries = kept // shared, as buildPostgres shares the full list
			}
		}
		return nil
	}
	return w.advisorRunner()
}

// advisorRunner builds the advisor over the targets of the kinds its checks read, plus the
// pgbouncers for the report's summary, or returns nil when there are none.
func (w *wiring) advisorRunner() *advisor.Runner {
	checks := advisor.DefaultChecks()
	kinds := advisor.Kinds(checks)
	var watched []*collector.Target
	var bouncers []*collector.Target
	for _, t := range w.targets {
		switch {
		case slices.Contains(kinds, t.Kind):
			watched = append(watched, t)
		case t.Kind == queries.SourcePgbouncer:
			bouncers = append(bouncers, t)
		}
	}
	if len(watched) == 0 {
		return nil
	}
	// no check reads pgbouncer, but the report's store summary says which ones answer
	watched = append(watched, bouncers...)
	return &advisor.Runner{
		Engine: w.engine, Targets: watched, Clusters: w.clusters, Checks: checks,
		Config: w.adv, Tester: postgres.Hypothetical(w.pgSources), History: advisor.NewHistory(),
		Log: w.log.With("component", "advisor"), Redact: w.red.String,
	}
}

// targetLogger is log with a target attribute that is added when a record is handled, not
// when the logger is made: slog's With formats its attributes at once, and the redacting
// handler scans them for every secret of the configuration, so one such logger per target
// made loading quadratic in the number of targets (150,000 targets with their own passwords:
// minutes). Records are rare; targets are many.
func targetLogger(log *slog.Logger, target string) *slog.Logger {
	return slog.New(&targetHandler{next: log.Handler(), target: target})
}

type targetHandler struct {
	next   slog.Handler
	target string
}

func (h *targetHandler) attr() slog.Attr { return slog.String("target", h.target) }

func (h *targetHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle puts the target first, where With would have put it.
func (h *targetHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.attr())
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *targetHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.next.WithAttrs(append([]slog.Attr{h.attr()}, attrs...))
}

func (h *targetHandler) WithGroup(name string) slog.Handler {
	return h.next.WithAttrs([]slog.Attr{h.attr()}).WithGroup(name)
}

// filter turns configured patterns into a source filter (nil when none is set).
func filter(p config.Patterns) *postgres.Filter {
	if !p.Set() {
		return nil
	}
	return &postgres.Filter{Include: p.IncludeRE, Exclude: p.ExcludeRE}
}

func buildPgbouncer(w *wiring) error {
	for _, b := range w.cfg.Targets.Pgbouncer {
		src, err := postgres.NewPgbouncer(postgres.Options{DSN: b.ResolvedDSN, MaxConns: 1, ConnectTimeout: b.QueryTimeout})
		if err != nil {
			return fmt.Errorf("pgbouncer target %q: %w", b.Name, err)
		}
		w.add(&collector.Target{
			Name: b.Name, Kind: queries.SourcePgbouncer, UpMetric: "pgbouncer_up", Source: src,
			Queries: w.set.For(queries.SourcePgbouncer), Timeout: b.QueryTimeout, Parallel: 1,
		}, postgresAddress(b.ResolvedDSN))
		w.clusters[b.Name] = b.Cluster
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
