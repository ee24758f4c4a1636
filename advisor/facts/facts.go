// Package facts turns the results the collector gathered into typed, unit-normalised facts
// the advisor's checks read: tables, indexes, statements, replication state, Redis INFO,
// pgBackRest stanzas, Elasticsearch nodes and indices. The packs stay the one place a query is
// written; checks never look at rows or metric names.
//
// Facts are decoded once per gather: FromSnapshots reads every result a fact needs into the
// plain exported fields of a Target, and the rows are dropped; checks (and their tests, which
// build Targets as struct literals) read only those fields. A column a fact reads that the
// query's result lacks is an error naming the query and the column: the query counts as not
// available (Target.Available says why, and the checks that need it report that reason as they
// do for a failed query), and the facts decoded from it stay empty rather than zero-filled. A
// column the pack limits to other server versions (min_version/max_version) is not an error
// on those versions; the fact reads it as unknown.
package facts

import (
	"fmt"
	"slices"
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
// pgBackRest, Elasticsearch, pgbouncer), with the facts decoded from its results. A fact whose
// query has no (usable) result is empty: nil, zero, or a Has* field false.
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
	// SameAs names the target listed before this one that watches the same server (a Redis
	// server reached by its address and through its sentinels shows one run_id): the
	// advisor reports the server's findings once, on that target.
	SameAs string
	// Unavailable maps the queries whose result the facts could not use to why: the query
	// failed, did not run, or lacks a column a fact reads. A query not listed is available,
	// except on a gathered target, where one the packs do not hold is not.
	Unavailable map[string]string
	// gathered are the queries the packs hold for the target (nil for facts built directly).
	gathered map[string]bool

	PostgresFacts
	BackupFacts
	RedisFacts
	ElasticsearchFacts
}

// MultiDatabase reports whether the target reports user tables in more than one database:
// findings then name objects with their database.
func (t *Target) MultiDatabase() bool {
	for _, tb := range t.Tables {
		if tb.Database != t.Tables[0].Database {
			return true
		}
	}
	return false
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

// FromSnapshots decodes the facts of gathered targets; cluster names come from the
// configuration (target name -> cluster).
func FromSnapshots(at time.Time, snaps []*collector.Snapshot, clusterOf map[string]string) *Snapshot {
	s := &Snapshot{At: at}
	for _, snap := range snaps {
		t := &Target{
			Name: snap.Target.Name, Kind: snap.Target.Kind, Cluster: clusterOf[snap.Target.Name], Up: snap.Up,
			Role: snap.Info.Role, Version: snap.Info.Version,
			Unavailable: map[string]string{}, gathered: map[string]bool{},
		}
		if !snap.Up {
			t.Down = fmt.Sprint(snap.ProbeErr)
		}
		if t.Kind == "" {
			t.Kind = queries.SourcePostgres
		}
		t.Extensions = map[string]string{}
		for f, v := range snap.Info.Features {
			if name, ok := strings.CutPrefix(f, "extension:"); ok {
				t.Extensions[name] = v
			}
		}
		d := &decoder{t: t, results: map[string]*collector.Result{}}
		for _, r := range snap.Results {
			t.gathered[r.Query.Name] = true
			if r.Err != nil {
				t.Unavailable[r.Query.Name] = fmt.Sprintf("query %s failed: %v", r.Query.Name, r.Err)
				continue
			}
			d.results[r.Query.Name] = r
		}
		for _, sk := range snap.Skipped {
			t.gathered[sk.Query.Name] = true
			t.Unavailable[sk.Query.Name] = fmt.Sprintf("query %s did not run: %s", sk.Query.Name, sk.Reason)
		}
		if snap.Up {
			// held by the packs but left out of the gather (collector.Engine.GatherOnly)
			for _, q := range snap.Target.Queries {
				if !t.gathered[q.Name] {
					t.gathered[q.Name] = true
					t.Unavailable[q.Name] = fmt.Sprintf("query %s was not gathered: no check that runs reads it", q.Name)
				}
			}
		}
		d.decode()
		s.Targets = append(s.Targets, t)
	}
	s.Group()
	return s
}

// decoder reads a target's results into its facts.
type decoder struct {
	t       *Target
	results map[string]*collector.Result
	// missing are the columns facts read that a query's result lacks, by query.
	missing map[string][]string
	// reads, when not nil, records the queries asked for (Reads).
	reads map[string]bool
}

// Reads returns the names of the queries, of every store, whose results the facts read:
// what an advisor's gather asks for. It decodes as if every query had answered without
// rows, so that a read made only once another result is there is named too.
func Reads() map[string]bool {
	d := &decoder{t: &Target{Unavailable: map[string]string{}}, reads: map[string]bool{}}
	d.fill()
	return d.reads
}

// decode fills the target's facts. A query that lacks a column a fact reads is marked
// unavailable and the facts are decoded again without it: a fact that merely enriches
// another (sizes of tables) then stays unknown instead of zero.
func (d *decoder) decode() {
	d.fill()
	if len(d.missing) == 0 {
		return
	}
	for q, cols := range d.missing {
		d.t.Unavailable[q] = fmt.Sprintf("query %s has no column %s, which the advisor reads (renamed in the pack?)",
			q, strings.Join(cols, ", "))
		delete(d.results, q)
	}
	t := d.t
	t.PostgresFacts, t.BackupFacts, t.RedisFacts, t.ElasticsearchFacts = PostgresFacts{}, BackupFacts{}, RedisFacts{}, ElasticsearchFacts{}
	d.fill()
}

// fill decodes the facts of every store; the queries of another store have no results.
func (d *decoder) fill() {
	d.postgres()
	d.backups()
	d.redis()
	d.elasticsearch()
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

// Group puts targets built directly (tests, tools) into clusters by system identifier, as
// FromSnapshots does.
// It also marks the targets that watch a server another target already watches (SameAs).
func (s *Snapshot) Group() {
	s.Clusters = group(s.Targets)
	byRunID := map[string]string{}
	for _, t := range s.Targets {
		if t.RedisInfo == nil || t.RedisInfo.RunID == "" {
			continue
		}
		if first, ok := byRunID[t.RedisInfo.RunID]; ok {
			t.SameAs = first
		} else {
			byRunID[t.RedisInfo.RunID] = t.Name
		}
	}
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
	if reason, ok := t.Unavailable[query]; ok {
		return false, reason
	}
	if t.gathered != nil && !t.gathered[query] {
		return false, fmt.Sprintf("query %s is not in the loaded packs", query)
	}
	return true, ""
}

// rows returns a query's result, or nil when it is not available.
func (d *decoder) rows(query string) *Rows {
	if d.reads != nil {
		d.reads[query] = true
		return &Rows{rows: &queries.Rows{}, query: &queries.Query{Name: query}, d: d}
	}
	r, ok := d.results[query]
	if !ok || r.Rows == nil {
		return nil
	}
	idx := make(map[string]int, len(r.Rows.Columns))
	for i, c := range r.Rows.Columns {
		idx[c] = i
	}
	return &Rows{rows: r.Rows, idx: idx, query: r.Query, d: d}
}

// Rows reads a result by column name. A column the result lacks is recorded as missing
// (unless the pack limits it to other server versions) and reads as the zero value, as NULL
// does.
type Rows struct {
	rows  *queries.Rows
	idx   map[string]int
	query *queries.Query
	d     *decoder
	// probe: the result has no rows; a decode function runs once on a row of NULLs so that
	// the columns it reads are checked anyway.
	probe bool
}

// col returns a column's index, and false when the result lacks it or is being probed.
func (r *Rows) col(c string) (int, bool) {
	j, ok := r.idx[c]
	if !ok && !r.versioned(c) && !slices.Contains(r.d.missing[r.query.Name], c) {
		if r.d.missing == nil {
			r.d.missing = map[string][]string{}
		}
		r.d.missing[r.query.Name] = append(r.d.missing[r.query.Name], c)
	}
	return j, ok && !r.probe
}

// versioned reports whether the pack limits column c to server versions other than the
// target's.
func (r *Rows) versioned(c string) bool {
	v := r.d.t.Version
	for _, pc := range r.query.Columns {
		if pc.Name == c && (pc.MinVersion != 0 && v < pc.MinVersion || pc.MaxVersion != 0 && v >= pc.MaxVersion) {
			return true
		}
	}
	return false
}

// Len is the number of rows.
func (r *Rows) Len() int { return r.rows.Len() }

// Str returns a column's value as text.
func (r *Rows) Str(i int, col string) string {
	j, ok := r.col(col)
	if !ok {
		return ""
	}
	if s, ok := r.rows.Text(i, j); ok { // no boxing: most of a big catalog's values are text
		return s
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

// Num returns a column's value as a number, and whether it is one: a number, or text that
// parses as one (JSON APIs and Redis INFO give numbers as text: "2000").
func (r *Rows) Num(i int, col string) (float64, bool) {
	j, ok := r.col(col)
	if !ok {
		return 0, false
	}
	if v, isText := r.rows.Text(i, j); isText { // unboxed, as Number
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
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
	j, ok := r.col(col)
	if !ok {
		return time.Time{}
	}
	t, _ := r.rows.Time(i, j)
	return t
}

// each decodes every row of a query's result with f; nil when the target has no result for
// it. A result without rows is probed: f runs once on NULLs, its value dropped.
func each[T any](r *Rows, f func(r *Rows, i int) T) []T {
	if r == nil {
		return nil
	}
	if r.Len() == 0 {
		r.probe = true
		f(r, 0)
		r.probe = false
		return []T{}
	}
	out := make([]T, 0, r.Len())
	for i := range r.Len() {
		out = append(out, f(r, i))
	}
	return out
}

// forEach runs f on every row of a query's result (probing one without rows, as each does).
func forEach(r *Rows, f func(r *Rows, i int)) {
	each(r, func(r *Rows, i int) struct{} { f(r, i); return struct{}{} })
}

// first decodes the first row of a query's result with f; nil when there is none (a result
// without rows is probed, as each does).
func first[T any](r *Rows, f func(r *Rows) T) *T {
	if r == nil {
		return nil
	}
	if r.Len() == 0 {
		each(r, func(r *Rows, _ int) T { return f(r) })
		return nil
	}
	v := f(r)
	return &v
}
