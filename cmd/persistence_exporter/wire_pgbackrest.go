package main

import (
	"fmt"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func buildPgbackrest(w *wiring) error {
	for _, b := range w.cfg.Targets.Pgbackrest {
		src, err := pgbackrest.New(pgbackrest.Options{Command: b.CommandWords, Config: b.Config, Stanza: b.Stanza, Timeout: b.QueryTimeout})
		if err != nil {
			return fmt.Errorf("pgbackrest target %q: %w", b.Name, err)
		}
		w.add(&collector.Target{
			Name: b.Name, Kind: queries.SourcePgbackrest, UpMetric: "pgbackrest_up", Source: src,
			Queries: w.set.For(queries.SourcePgbackrest), Timeout: b.QueryTimeout, Parallel: 2,
		}, "stanza "+b.Stanza)
		w.clusters[b.Name] = b.Cluster
	}
	return nil
}
