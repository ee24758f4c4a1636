package queries

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/internal/version"
	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

// postgres_exporter's queries.yaml: a mapping of query name to query. "master" only matters to
// its database auto-discovery, which has no counterpart here: it is accepted and ignored.
type compatQuery struct {
	Query        string                    `yaml:"query"`
	Metrics      []map[string]compatColumn `yaml:"metrics"`
	Master       bool                      `yaml:"master"`
	CacheSeconds uint64                    `yaml:"cache_seconds"`
	RunOnServer  string                    `yaml:"runonserver"`
}

type compatColumn struct {
	Usage         string             `yaml:"usage"`
	Description   string             `yaml:"description"`
	MetricMapping map[string]float64 `yaml:"metric_mapping"`
	// PGVersion is a semver range; outside it the column is discarded.
	PGVersion string `yaml:"pg_version"`
}

var compatUsages = map[string]Usage{
	"LABEL":        UsageLabel,
	"COUNTER":      UsageCounter,
	"GAUGE":        UsageGauge,
	"DISCARD":      UsageDiscard,
	"MAPPEDMETRIC": UsageMapped,
	"DURATION":     UsageDuration,
}

func parseCompat(doc *yamlx.Document, data []byte, kinds SourceKinds) (*Pack, error) {
	if doc.Root.Kind != yaml.MappingNode {
		return nil, yamlx.Errorf(doc.File, doc.Root.Line, "a pack is a mapping with a \"queries\" list (or a postgres_exporter queries.yaml)")
	}
	kind, ok := kinds.get(SourcePostgres)
	if !ok {
		return nil, yamlx.Errorf(doc.File, doc.Root.Line, "a postgres_exporter queries.yaml needs the postgres source, which this program lacks")
	}
	var raw map[string]compatQuery
	if err := doc.DecodeStrict(data, &raw); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(raw))
	for n := range raw {
		names = append(names, n)
	}
	// keep the file's order
	sort.Slice(names, func(i, j int) bool { return doc.Line(names[i]) < doc.Line(names[j]) })

	p := &Pack{File: doc.File, Source: SourcePostgres}
	var errs []error
	for _, name := range names {
		cq := raw[name]
		// postgres_exporter's HISTOGRAM reads <column>_bucket, _sum and _count arrays into a
		// histogram; that has no counterpart here. The query is left out, not the file (the
		// example queries.yaml of postgres_exporter 0.12 has one).
		if col, line, ok := histogramColumn(doc, name, cq); ok {
			p.Skipped = append(p.Skipped, Skipped{File: doc.File, Line: line, Query: name,
				Reason: fmt.Sprintf("column %q has usage HISTOGRAM, which persistence_exporter does not export; the file's other queries are loaded", col)})
			continue
		}
		before := len(errs)
		q := &Query{
			Name: name, Source: SourcePostgres, File: doc.File, Line: doc.Line(name),
			TTL: time.Duration(cq.CacheSeconds) * time.Second,
			// postgres_exporter exports the columns a query returns but does not list, untyped.
			ExportUnlisted: true,
		}
		if cq.RunOnServer != "" {
			lo, hi, err := parseSemverRange(cq.RunOnServer)
			if err != nil {
				errs = append(errs, doc.Errorf([]any{name, "runonserver"}, "query %q: runonserver: %v", name, err))
			}
			q.MinVersion, q.MaxVersion = lo, hi
		}
		colPath := map[string][]any{}
		for i, m := range cq.Metrics {
			if len(m) != 1 {
				errs = append(errs, doc.Errorf([]any{name, "metrics", i}, "query %q: each metrics entry maps one column name to its usage", name))
				continue
			}
			for col, cc := range m {
				colPath[col] = []any{name, "metrics", i, col}
				u, ok := compatUsages[strings.ToUpper(cc.Usage)]
				if !ok {
					errs = append(errs, doc.Errorf([]any{name, "metrics", i, col, "usage"},
						"query %q: column %q: unknown usage %q (want LABEL, COUNTER, GAUGE, MAPPEDMETRIC, DURATION or DISCARD)", name, col, cc.Usage))
					continue
				}
				c := Column{Name: col, Usage: u, Help: cc.Description, Mapping: cc.MetricMapping}
				if cc.PGVersion != "" {
					lo, hi, err := parseSemverRange(cc.PGVersion)
					if err != nil {
						errs = append(errs, doc.Errorf([]any{name, "metrics", i, col, "pg_version"}, "query %q: column %q: pg_version: %v", name, col, err))
					}
					c.MinVersion, c.MaxVersion = lo, hi
				}
				q.Columns = append(q.Columns, c)
			}
		}
		if cq.Query == "" {
			errs = append(errs, doc.Errorf([]any{name}, "query %q has no query", name))
		}
		if len(errs) > before {
			continue
		}
		// postgres_exporter names a DURATION column <query>_<column>_milliseconds.
		for i, c := range q.Columns {
			if c.Usage == UsageDuration {
				q.Columns[i].Metric = q.Name + "_" + c.Name + "_milliseconds"
			}
		}
		body := kind.NewBody()
		if n := doc.Node(name, "query"); n != nil {
			if err := n.Decode(body); err != nil {
				errs = append(errs, doc.Errorf([]any{name, "query"}, "query %q: %v", name, err))
				continue
			}
		}
		compiled, qerrs := compile(decoded{q: q, body: body}, kind, kinds, func(path ...any) int {
			if len(path) >= 2 && path[0] == "columns" {
				if i, ok := path[1].(int); ok && i < len(q.Columns) {
					return doc.Line(colPath[q.Columns[i].Name]...)
				}
			}
			return doc.Line(name)
		})
		errs = append(errs, qerrs...)
		p.Queries = append(p.Queries, compiled)
	}
	if err := yamlx.Join(errs...); err != nil {
		return nil, err
	}
	if len(p.Queries) == 0 && len(p.Skipped) == 0 {
		return nil, yamlx.Errorf(doc.File, 0, "the pack has no queries")
	}
	return p, nil
}

// histogramColumn finds the first column of a compat query with usage HISTOGRAM, and the
// line of its usage.
func histogramColumn(doc *yamlx.Document, name string, cq compatQuery) (col string, line int, ok bool) {
	for i, m := range cq.Metrics {
		for c, cc := range m {
			if strings.EqualFold(cc.Usage, "HISTOGRAM") {
				return c, doc.Line(name, "metrics", i, c, "usage"), true
			}
		}
	}
	return "", 0, false
}

// parseSemverRange reads postgres_exporter's runonserver, such as ">=10.0.0 <13.0.0", into a
// [min, max) range of server_version_num.
func parseSemverRange(s string) (lo, hi int, err error) {
	for _, part := range strings.Fields(s) {
		op := part[:len(part)-len(strings.TrimLeft(part, "<>=!"))]
		v, err := version.PostgresNumber(part[len(op):])
		if err != nil {
			return 0, 0, err
		}
		switch op {
		case ">=":
			lo = v
		case ">":
			lo = v + 1
		case "<":
			hi = v
		case "<=":
			hi = v + 1
		case "", "=", "==":
			lo, hi = v, v+1
		default:
			return 0, 0, fmt.Errorf("unsupported operator %q in %q", op, s)
		}
	}
	return lo, hi, nil
}
