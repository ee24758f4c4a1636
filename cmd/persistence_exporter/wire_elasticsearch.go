package main

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func buildElasticsearch(w *wiring) error {
	for _, e := range w.cfg.Targets.Elasticsearch {
		// what the client sends: the Authorization header's token, for basic auth (configured,
		// or from a URL's user information) and for an API key in both its forms
		w.red.AddBasicAuth(e.Username, e.Password)
		w.red.AddAPIKey(e.APIKey)
		for _, raw := range e.URLs {
			if u, err := url.Parse(raw); err == nil && u.User != nil {
				if p, ok := u.User.Password(); ok {
					w.red.AddBasicAuth(u.User.Username(), p)
				}
			}
		}
		src, err := elasticsearch.New(elasticsearch.Options{
			URLs:               e.URLs,
			Username:           e.Username,
			Password:           e.Password,
			APIKey:             e.APIKey,
			CACert:             e.CACert,
			InsecureSkipVerify: e.InsecureSkipVerify,
			Lists:              e.Lists(),
			MaxConns:           e.MaxConnections,
			MaxBodyBytes:       e.MaxBody,
			Timeout:            e.QueryTimeout,
		})
		if err != nil {
			return fmt.Errorf("elasticsearch target %q: %w", e.Name, err)
		}
		w.add(&collector.Target{
			Name: e.Name, Kind: queries.SourceElasticsearch, UpMetric: "elasticsearch_up", Source: src,
			Queries: w.set.For(queries.SourceElasticsearch), Timeout: e.QueryTimeout, Parallel: e.MaxConnections,
		}, elasticsearchAddress(e.URLs))
		w.clusters[e.Name] = e.Cluster
	}
	return nil
}

// elasticsearchAddress lists the URLs without user information.
func elasticsearchAddress(urls []string) string {
	out := make([]string, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			out[i] = "(unparsable URL)"
			continue
		}
		u.User = nil
		out[i] = u.String()
	}
	return strings.Join(out, ", ")
}
