package main

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// wiring is everything serve and check-config build from the configuration.
type wiring struct {
	cfg     *config.Config
	adv     advisor.Config // the configuration's advisor section
	set     *queries.Set
	red     *secret.Redactor
	log     *slog.Logger
	engine  *collector.Engine
	targets []*collector.Target
	entries []targetEntry
	// the PostgreSQL sources, and every target's configured cluster, by target name, for the advisor
	pgSources map[string]*postgres.Source
	clusters  map[string]string
}

// targetEntry describes a target for people: the landing page and logs. It never holds a
// secret.
type targetEntry struct {
	Name, Kind, Address string
}

// load reads the configuration and the packs and builds one source per target. This is the
// one table of what runs: each target kind, its source and its up metric.
func load(file string, red *secret.Redactor, logger *slog.Logger) (*wiring, error) {
	adv := advisor.DefaultConfig()
	cfg, err := config.Load(file, config.Section{Key: "advisor", Value: &adv, Check: adv.Check, Secrets: adv.Secrets})
	if err != nil {
		return nil, err
	}
	red.Add(cfg.Secrets()...)
	packKinds := make(queries.SourceKinds, len(kinds))
	for i, k := range kinds {
		packKinds[i] = k.pack
	}
	packs, err := queries.Defaults(packKinds)
	if err != nil {
		return nil, fmt.Errorf("the embedded packs: %w", err)
	}
	user, err := queries.LoadPaths(cfg.Packs, packKinds)
	if err != nil {
		return nil, err
	}
	for _, p := range user {
		for _, sk := range p.Skipped {
			logger.Warn("a query of a pack is skipped", "at", fmt.Sprintf("%s:%d", sk.File, sk.Line), "query", sk.Query, "reason", sk.Reason)
		}
	}
	set, err := queries.NewSet(packs, user)
	if err != nil {
		return nil, err
	}
	for _, r := range set.Replaced {
		logger.Info("a user pack replaces a default query", "query", r.Default.Name,
			"default", fmt.Sprintf("%s:%d", r.Default.File, r.Default.Line), "by", fmt.Sprintf("%s:%d", r.By.File, r.By.Line))
	}
	for _, sh := range set.Shadowed {
		logger.Info("a user pack's query replaces a metric of a default query", "metric", sh.Metric,
			"default", fmt.Sprintf("%s:%d", sh.Default.File, sh.Default.Line), "by", fmt.Sprintf("%s:%d", sh.By.File, sh.By.Line))
	}
	if err := checkTopN(cfg, set); err != nil {
		return nil, err
	}
	w := &wiring{cfg: cfg, adv: adv, set: set, red: red, log: logger, pgSources: map[string]*postgres.Source{}, clusters: map[string]string{}}
	var errs []error
	for _, k := range kinds {
		if err := k.build(w); err != nil {
			errs = append(errs, err)
		}
	}
	w.engine = collector.NewEngine(w.targets, logger)
	if err := errors.Join(errs...); err != nil {
		w.engine.Close()
		return nil, err
	}
	return w, nil
}

// kinds is the table of what runs: each source kind reads the bodies of its packs (pack) and
// builds the targets of its section of the configuration, with its source and its up metric
// (wire_<kind>.go).
var kinds = []struct {
	pack  queries.SourceKind
	build func(w *wiring) error
}{
	{postgres.Kind(), buildPostgres},
	{postgres.PgbouncerKind(), buildPgbouncer},
	{redis.Kind(), buildRedis},
	{elasticsearch.Kind(), buildElasticsearch},
	{pgbackrest.Kind(), buildPgbackrest},
}

// add registers a built target.
func (w *wiring) add(t *collector.Target, address string) {
	w.targets = append(w.targets, t)
	w.entries = append(w.entries, targetEntry{Name: t.Name, Kind: t.Kind, Address: address})
}

func (w *wiring) summary() string {
	n := 0
	for _, p := range w.set.Packs {
		n += len(p.Queries)
	}
	kinds := map[string]int{}
	var order []string
	for _, e := range w.entries {
		if kinds[e.Kind] == 0 {
			order = append(order, e.Kind)
		}
		kinds[e.Kind]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return fmt.Sprintf("%d targets (%s), %d packs, %d queries", len(w.entries), strings.Join(parts, ", "), len(w.set.Packs), n)
}

// checkTopN makes sure every top_n key names a PostgreSQL query with a top: a misspelt name,
// or a query whose metrics are not capped, would silently cap nothing.
func checkTopN(cfg *config.Config, set *queries.Set) error {
	var names []string
	for _, q := range set.For(queries.SourcePostgres) {
		if q.Top != nil {
			names = append(names, q.Name)
		}
	}
	var errs []error
	for i, p := range cfg.Targets.Postgres {
		for q := range p.TopN {
			if !slices.Contains(names, q) {
				errs = append(errs, cfg.ErrorAt([]any{"targets", "postgres", i, "top_n", q},
					"top_n: no PostgreSQL query %q caps its series (those that do: %s)", q, strings.Join(names, ", ")))
			}
		}
	}
	return yamlx.Join(errs...)
}
