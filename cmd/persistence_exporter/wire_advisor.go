package main

import (
	"slices"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

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
				t.Queries = kept // shared, as collector.NewTargets shares the full list
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
