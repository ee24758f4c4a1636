package main

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// wiring is everything serve and check-config build from the configuration.
type wiring struct {
	cfg    *config.Config
	adv    advisor.Config // the configuration's advisor section
	set    *queries.Set
	red    *secret.Redactor
	log    *slog.Logger
	engine *collector.Engine
	// targets are every configured target, in the order of the kinds, then of the file
	targets []*collector.Target
	// the PostgreSQL sources, and every target's configured cluster, by target name, for the advisor
	pgSources map[string]*postgres.Source
	clusters  map[string]string
}

// load reads the configuration and the packs and builds one source per target, with the
// kinds of the table below.
func load(file string, red *secret.Redactor, logger *slog.Logger) (*wiring, error) {
	adv := advisor.DefaultConfig()
	cfg, err := config.Load(file, kinds.All.Targets(), config.Section{Key: "advisor", Value: &adv, Check: adv.Check, Secrets: adv.Secrets})
	if err != nil {
		return nil, err
	}
	red.Add(cfg.Secrets()...)
	packKinds := kinds.All.Packs()
	// the embedded packs of the kinds configured: the others would be parsed for nothing
	configured := map[string]bool{}
	for _, t := range cfg.Targets {
		configured[config.BaseOf(t).Kind()] = true
	}
	packs, err := queries.DefaultsOf(packKinds, func(source string) bool { return configured[source] })
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
	targets, err := collector.NewTargets(kinds.All, cfg, set, logger, red)
	if err != nil {
		return nil, err
	}
	w := &wiring{cfg: cfg, adv: adv, set: set, red: red, log: logger, targets: targets,
		pgSources: map[string]*postgres.Source{}, clusters: map[string]string{}}
	for _, t := range targets {
		w.clusters[t.Name] = t.Cluster
		if src, ok := t.Source.(*postgres.Source); ok && t.Kind == queries.SourcePostgres {
			w.pgSources[t.Name] = src
		}
	}
	w.engine = collector.NewEngine(targets, logger)
	return w, nil
}

func (w *wiring) summary() string {
	n := 0
	for _, p := range w.set.Packs {
		n += len(p.Queries)
	}
	kinds := map[string]int{}
	var order []string
	for _, e := range w.targets {
		if kinds[e.Kind] == 0 {
			order = append(order, e.Kind)
		}
		kinds[e.Kind]++
	}
	parts := make([]string, len(order))
	for i, k := range order {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return fmt.Sprintf("%d targets (%s), %d packs, %d queries", len(w.targets), strings.Join(parts, ", "), len(w.set.Packs), n)
}
