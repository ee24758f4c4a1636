// Package facts turns the results the collector gathered into typed, unit-normalised facts
// the advisor's checks read: tables, indexes, statements, replication state. The packs stay
// the one place a query is written; checks never look at rows or metric names.
package facts

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Snapshot is what the advisor knows at one moment.
type Snapshot struct {
	At       time.Time
	Targets  []*Target
	Clusters []*Cluster
}

// Target is one gathered target: a PostgreSQL server, or a target of another kind (Redis,
// pgBackRest, Elasticsearch, pgbouncer), which its own facts read.
type Target struct {
	Name string
	// Kind is the target's source kind (queries.SourcePostgres, ...).
	Kind string
	// Cluster is the configured cluster name ("" when none).
	Cluster string
	Up      bool
	Down    string // why it is down
	Role    queries.Role
	Version int
	// Extensions maps installed extensions (in the DSN's database) to their version.
	Extensions map[string]string
	// SystemID is pg_control_system()'s system_identifier: replicas share their primary's.
	SystemID string

	results map[string]*collector.Result
	skipped map[string]string
	multiDB *bool
}

// MultiDatabase reports whether the target reports user tables in more than one database:
// findings then name objects with their database.
func (t *Target) MultiDatabase() bool {
	if t.multiDB == nil {
		seen := map[string]bool{}
		if r := t.Rows("pg_stat_user_tables"); r != nil {
			for i := range r.Len() {
				seen[r.Str(i, "datname")] = true
			}
		}
		multi := len(seen) > 1
		t.multiDB = &multi
	}
	return *t.multiDB
}

// Cluster is a primary and its replicas: the targets that share a system identifier.
type Cluster struct {
	// Name is the configured cluster name, or the system identifier.
	Name     string
	SystemID string
	Members  []*Target // the primary first
}

// Primary returns the cluster's primary, or nil.
func (c *Cluster) Primary() *Target {
	for _, m := range c.Members {
		if m.Role == queries.RolePrimary {
			return m
		}
	}
	return nil
}

// FromSnapshots builds the facts of gathered PostgreSQL targets; cluster names come from the
// configuration (target name -> cluster).
func FromSnapshots(at time.Time, snaps []*collector.Snapshot, clusterOf map[string]string) *Snapshot {
	s := &Snapshot{At: at}
	for _, snap := range snaps {
		t := &Target{
			Name: snap.Target.Name, Kind: snap.Target.Kind, Cluster: clusterOf[snap.Target.Name], Up: snap.Up,
			Role: snap.Info.Role, Version: snap.Info.Version,
			results: map[string]*collector.Result{}, skipped: map[string]string{},
		}
		if !snap.Up {
			t.Down = fmt.Sprint(snap.ProbeErr)
		}
		t.Extensions = map[string]string{}
		for f, v := range snap.Info.Features {
			if name, ok := strings.CutPrefix(f, "extension:"); ok {
				t.Extensions[name] = v
			}
		}
		for _, r := range snap.Results {
			t.results[r.Query.Name] = r
		}
		for _, sk := range snap.Skipped {
			t.skipped[sk.Query.Name] = sk.Reason
		}
		if t.Kind == "" {
			t.Kind = queries.SourcePostgres
		}
		if r := t.Rows("pg_system"); t.Kind == queries.SourcePostgres && r != nil && r.Len() > 0 {
			t.SystemID = r.Str(0, "system_identifier")
		}
		s.Targets = append(s.Targets, t)
	}
	s.Clusters = group(s.Targets)
	return s
}

// group puts the targets that share a system identifier into one cluster. A target without
// one (down since the exporter started) joins the cluster of its configured name, if any.
func group(targets []*Target) []*Cluster {
	byID := map[string]*Cluster{}
	var out []*Cluster
	for _, t := range targets {
		if t.SystemID == "" || t.Kind != queries.SourcePostgres {
			continue
		}
		c, ok := byID[t.SystemID]
		if !ok {
			c = &Cluster{SystemID: t.SystemID, Name: t.Cluster}
			byID[t.SystemID] = c
			out = append(out, c)
		}
		if c.Name == "" {
			c.Name = t.Cluster
		}
		c.Members = append(c.Members, t)
	}
	for _, t := range targets {
		if t.SystemID != "" || t.Kind != queries.SourcePostgres {
			continue
		}
		var c *Cluster
		for _, o := range out {
			if t.Cluster != "" && o.Name == t.Cluster {
				c = o
			}
		}
		if c == nil { // unknown: a cluster of its own
			c = &Cluster{Name: t.Cluster}
			out = append(out, c)
		}
		c.Members = append(c.Members, t)
	}
	for _, c := range out {
		if c.Name == "" {
			c.Name = c.SystemID
		}
		if c.Name == "" {
			c.Name = c.Members[0].Name
		}
		sort.SliceStable(c.Members, func(i, j int) bool {
			return c.Members[i].Role == queries.RolePrimary && c.Members[j].Role != queries.RolePrimary
		})
	}
	return out
}

// Unplaced returns the targets whose cluster is unknown: no system identifier (they never
// answered) and no configured cluster name. Any cluster may be theirs.
func (s *Snapshot) Unplaced() []*Target {
	var out []*Target
	for _, t := range s.Targets {
		if t.Kind == queries.SourcePostgres && t.SystemID == "" && t.Cluster == "" {
			out = append(out, t)
		}
	}
	return out
}

// Available reports whether a query's result is there for the target, and why not.
func (t *Target) Available(query string) (bool, string) {
	if !t.Up {
		return false, "the target is down: " + t.Down
	}
	if r, ok := t.results[query]; ok {
		if r.Err != nil {
			return false, fmt.Sprintf("query %s failed: %v", query, r.Err)
		}
		return true, ""
	}
	if reason, ok := t.skipped[query]; ok {
		return false, fmt.Sprintf("query %s did not run: %s", query, reason)
	}
	return false, fmt.Sprintf("query %s is not in the loaded packs", query)
}

// Rows returns a query's result, or nil when it is not available.
func (t *Target) Rows(query string) *Rows {
	r, ok := t.results[query]
	if !ok || r.Err != nil || r.Rows == nil {
		return nil
	}
	idx := make(map[string]int, len(r.Rows.Columns))
	for i, c := range r.Rows.Columns {
		idx[c] = i
	}
	return &Rows{rows: r.Rows, idx: idx, At: r.Started}
}

// Rows reads a result by column name; a missing column or NULL reads as the zero value.
type Rows struct {
	rows *queries.Rows
	idx  map[string]int
	// At is when the result was gathered.
	At time.Time
}

// Len is the number of rows.
func (r *Rows) Len() int { return r.rows.Len() }

// Has reports whether the result has a column.
func (r *Rows) Has(col string) bool { _, ok := r.idx[col]; return ok }

// Str returns a column's value as text.
func (r *Rows) Str(i int, col string) string {
	j, ok := r.idx[col]
	if !ok {
		return ""
	}
	switch v := r.rows.Value(i, j).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// Num returns a column's value as a number, and whether it is one.
func (r *Rows) Num(i int, col string) (float64, bool) {
	j, ok := r.idx[col]
	if !ok {
		return 0, false
	}
	if v, isText := r.rows.Value(i, j).(string); isText {
		// JSON APIs give numbers as text too (Elasticsearch's cat APIs, "2000" settings)
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return r.rows.Number(i, j)
}

// Float returns a column's value as a number, 0 when it is not one.
func (r *Rows) Float(i int, col string) float64 {
	v, _ := r.Num(i, col)
	return v
}

// Bool returns a column's value as a boolean (a number other than 0 is true).
func (r *Rows) Bool(i int, col string) bool { return r.Float(i, col) != 0 }

// Time returns a timestamp column, the zero time when NULL.
func (r *Rows) Time(i int, col string) time.Time {
	j, ok := r.idx[col]
	if !ok {
		return time.Time{}
	}
	if t, ok := r.rows.Value(i, j).(time.Time); ok {
		return t
	}
	return time.Time{}
}
