package main

import "strings"

func buildElasticsearch(w *wiring) error {
	for _, e := range w.cfg.Targets.Elasticsearch {
		w.skip(e.Name, "elasticsearch", w.red.String(strings.Join(e.URLs, ", ")))
	}
	return nil
}
