package main

import (
	"encoding/json"
	"net/http"
)

// sdGroup is one entry of Prometheus' http_sd format: the addresses to scrape and the labels
// they share.
type sdGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// sdGroups lists every configured target for Prometheus' http_sd_configs, in the
// multi-target pattern: the address to scrape is the exporter's own (addr), the metrics path
// /probe and the target its parameter. Each group carries the target's name, kind and, when
// configured, cluster as labels, so that relabelling can shard the targets across exporter
// replicas by cluster (one deployment on one replica: the advisor works per deployment).
// The scheme is left to the scrape configuration: behind a proxy that ends TLS, the
// request's own would be wrong.
func sdGroups(w *wiring, addr string) []sdGroup {
	groups := make([]sdGroup, 0, len(w.targets)) // none is [], never null
	for _, e := range w.targets {
		labels := map[string]string{
			"__metrics_path__": "/probe",
			"__param_target":   e.Name,
			"target":           e.Name,
			"kind":             e.Kind,
		}
		if c := e.Cluster; c != "" {
			labels["cluster"] = c
		}
		groups = append(groups, sdGroup{Targets: []string{addr}, Labels: labels})
	}
	return groups
}

// sdHandler serves sdGroups, addressed as the request reached the exporter.
func sdHandler(w *wiring) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := json.Marshal(sdGroups(w, r.Host))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(body)
	})
}
