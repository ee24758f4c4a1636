package queries

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

//go:embed packs/*.yaml
var defaultPacks embed.FS

// Pack is one file of queries for one source kind.
type Pack struct {
	File    string
	Source  string
	Queries []*Query
	// Skipped are queries of the file that were left out without failing it (a
	// postgres_exporter HISTOGRAM query): the loader's caller logs them.
	Skipped []Skipped
}

// Skipped is a query of a pack file that was left out, and why.
type Skipped struct {
	File   string
	Line   int
	Query  string
	Reason string
}

// String is the warning: file:line, the query and why it is skipped.
func (s Skipped) String() string {
	return fmt.Sprintf("%s:%d: query %q is skipped: %s", s.File, s.Line, s.Query, s.Reason)
}

// Parse decodes one pack file; kinds are the source kinds it may name. The native format has
// a top-level "queries" list; any other mapping is read as a postgres_exporter queries.yaml.
func Parse(file string, data []byte, kinds SourceKinds) (*Pack, error) {
	return parse(file, data, kinds, true)
}

// parse is Parse; strict false decodes the node tree as it is, without a second parse that
// rejects unknown keys: for the embedded packs, which TestDefaultPacksAreStrict parses
// strictly.
func parse(file string, data []byte, kinds SourceKinds, strict bool) (*Pack, error) {
	doc, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if doc.Root == nil {
		return nil, yamlx.Errorf(file, 0, "the pack is empty")
	}
	if q := doc.Node("queries"); q != nil && q.Kind == yaml.SequenceNode {
		return parseNative(doc, data, kinds, strict)
	}
	return parseCompat(doc, data, kinds)
}

func parseNative(doc *yamlx.Document, data []byte, kinds SourceKinds, strict bool) (*Pack, error) {
	p := &Pack{File: doc.File, Source: SourcePostgres}
	if n := doc.Node("source"); n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
		p.Source = n.Value
	}
	kind, ok := kinds.get(p.Source)
	if !ok {
		return nil, doc.Errorf([]any{"source"}, "unknown source %q (want one of %s)", p.Source, kinds.names())
	}
	types := newPackTypes(kind, kinds)
	out := reflect.New(types.pack)
	decode := func() error { return doc.DecodeStrict(data, out.Interface()) }
	if !strict {
		decode = func() error { return doc.Root.Decode(out.Interface()) }
	}
	if err := decode(); err != nil {
		return nil, err
	}
	var errs []error
	qs := types.split(out)
	if len(qs) == 0 {
		errs = append(errs, doc.Errorf([]any{"queries"}, "the pack has no queries"))
	}
	for i, d := range qs {
		d.q.Source, d.q.File, d.q.Line = p.Source, doc.File, doc.Line("queries", i)
		q, qerrs := compile(d, kind, kinds, func(path ...any) int {
			return doc.Line(append([]any{"queries", i}, path...)...)
		})
		p.Queries, errs = append(p.Queries, q), append(errs, qerrs...)
	}
	if err := yamlx.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

var (
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	queryNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	// reservedLabels are added by the collector to every series.
	reservedLabels = []string{"target"}
	knownRequires  = []string{"extension:", "feature:"}
)

// problem is what is wrong at a path below a query (nil: the query itself).
type problem struct {
	path []any
	msg  string
}

func at(path ...any) func(format string, args ...any) problem {
	return func(format string, args ...any) problem { return problem{path, fmt.Sprintf(format, args...)} }
}

// compile checks one decoded query and returns the query that runs: a new value holding what
// the checks derive (its scope, the roles it runs on, its labels and metrics); the decoded
// query is left as it is. lineOf gives the line of a path below the query, for errors.
func compile(d decoded, k SourceKind, kinds SourceKinds, lineOf func(path ...any) int) (*Query, []error) {
	in := d.q
	q := *in
	q.Scope = cmp.Or(in.Scope, ScopeServer)
	if len(in.Roles) == 0 {
		q.Roles = k.DefaultRoles
	}
	var problems []problem
	q.Body, q.Variants, problems = compileBodies(d, k)
	problems = append(problems, checkGates(in, k, kinds)...)
	problems = append(problems, checkShape(in)...)
	var columns []problem
	q.Labels, q.Metrics, columns = compileColumns(in)
	problems = append(problems, columns...)
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = yamlx.Errorf(in.File, lineOf(p.path...), "query %q: %s", in.Name, p.msg)
	}
	return &q, errs
}

// compileBodies checks the name, the body or variants and the version range of a decoded
// query, and returns its compiled body and variants.
func compileBodies(d decoded, k SourceKind) (body Body, variants []Variant, out []problem) {
	q := d.q
	if !queryNameRe.MatchString(q.Name) {
		out = append(out, at("name")("name %q is not a valid metric name prefix (letters, digits and _)", q.Name))
	}
	field := k.BodyKey
	hasBody := d.body != nil || len(d.others) > 0
	switch {
	case !hasBody && len(d.variants) == 0:
		out = append(out, at()("needs %s or variants", field))
	case hasBody && len(d.variants) > 0:
		out = append(out, at("variants")("has both %s and variants: use one", field))
	case hasBody:
		var problems []Problem
		body, problems = compileBody(d.q, k, d.body, d.others)
		for _, p := range problems {
			out = append(out, problem{p.Path, p.Msg})
		}
	}
	if q.MaxVersion != 0 && q.MaxVersion <= q.MinVersion {
		out = append(out, at("max_version")("max_version %d must be above min_version %d", q.MaxVersion, q.MinVersion))
	}
	for i, dv := range d.variants {
		v := *dv.v
		if dv.body == nil && len(dv.others) == 0 {
			out = append(out, at("variants", i)("variant has no %s", field))
		} else {
			var problems []Problem
			v.Body, problems = compileBody(d.q, k, dv.body, dv.others)
			for _, p := range problems {
				out = append(out, at("variants", i)("%s", p.Msg))
			}
		}
		variants = append(variants, v)
		if v.MaxVersion != 0 && v.MaxVersion <= v.MinVersion {
			out = append(out, at("variants", i, "max_version")("max_version %d must be above min_version %d", v.MaxVersion, v.MinVersion))
		}
		for j := range i {
			if len(d.variants[j].v.Requires) == 0 && overlap(*d.variants[j].v, v) {
				out = append(out, at("variants", i)("variant %d overlaps variant %d, which has no requires and so always wins: make the version ranges disjoint", i, j))
			}
		}
		for k, r := range v.Requires {
			if msg := checkRequirement(r); msg != "" {
				out = append(out, at("variants", i, "requires", k)("%s", msg))
			}
		}
	}
	return body, variants, out
}

// compileBody checks the body of a query or variant: one written for another kind (others
// lists their keys), or the kind's own, which the kind compiles.
func compileBody(q *Query, k SourceKind, body any, others []string) (Body, []Problem) {
	var out []Problem
	for _, o := range others {
		out = append(out, Problem{nil, fmt.Sprintf("%s is not for a %s pack (it takes %s)", o, k.Name, k.BodyKey)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Msg < out[j].Msg })
	if body == nil {
		return nil, out
	}
	compiled, problems := k.Compile(body, q)
	return compiled, append(out, problems...)
}

// checkGates checks what decides where q runs: roles, requirements and scope.
func checkGates(q *Query, k SourceKind, kinds SourceKinds) []problem {
	var out []problem
	roles := []Role{RolePrimary, RoleReplica}
	for _, o := range kinds {
		for _, r := range o.Roles {
			if !slices.Contains(roles, r) {
				roles = append(roles, r)
			}
		}
	}
	for i, r := range q.Roles {
		switch {
		case !slices.Contains(roles, r):
			out = append(out, at("roles", i)("unknown role %q (want %s)", r, orList(roles)))
		case r != RolePrimary && r != RoleReplica && !slices.Contains(k.Roles, r):
			out = append(out, at("roles", i)("role %s is only for %s", r, kinds.onlyFor(func(o SourceKind) bool { return slices.Contains(o.Roles, r) })))
		}
	}
	for i, r := range q.Requires {
		if msg := checkRequirement(r); msg != "" {
			out = append(out, at("requires", i)("%s", msg))
		}
	}
	scopes := []string{ScopeServer}
	for _, o := range kinds {
		for _, sc := range o.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	switch {
	case q.Scope == "" || q.Scope == ScopeServer:
	case !slices.Contains(scopes, q.Scope):
		out = append(out, at("scope")("unknown scope %q (want %s)", q.Scope, orList(scopes)))
	case !slices.Contains(k.Scopes, q.Scope):
		out = append(out, at("scope")("scope %s is only for %s", q.Scope, kinds.onlyFor(func(o SourceKind) bool { return slices.Contains(o.Scopes, q.Scope) })))
	}
	if q.PushesDownTop() && !k.TopPushdown {
		out = append(out, at("top", "pushdown")("top.pushdown is only for %s", kinds.onlyFor(func(o SourceKind) bool { return o.TopPushdown })))
	}
	return out
}

// orList writes words as "a, b or c".
func orList[S ~string](words []S) string {
	s := make([]string, len(words))
	for i, w := range words {
		s[i] = string(w)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// checkShape checks top, metric_name, the durations and that q has columns.
func checkShape(q *Query) []problem {
	var out []problem
	if q.Top != nil {
		if q.Top.N < 1 {
			out = append(out, at("top", "n")("top.n must be at least 1"))
		}
		if !slices.ContainsFunc(q.Columns, func(c Column) bool { return c.Name == q.Top.By && c.Usage != UsageLabel }) {
			out = append(out, at("top", "by")("top.by %q is not a value column of the query", q.Top.By))
		}
	}
	if mn := q.MetricName; mn != nil {
		if !slices.ContainsFunc(q.Columns, func(c Column) bool { return c.Name == mn.Column && c.Usage == UsageDiscard }) {
			out = append(out, at("metric_name", "column")("metric_name.column %q must be a column of usage discard", mn.Column))
		}
		values := 0
		for _, c := range q.Columns {
			if c.Usage != UsageLabel && c.Usage != UsageDiscard {
				values++
			}
		}
		if values != 1 {
			out = append(out, at("metric_name")("a query with metric_name has exactly one value column, not %d", values))
		}
	}
	if q.TTL < 0 || q.Timeout < 0 {
		out = append(out, at()("ttl and timeout must not be negative"))
	}
	if len(q.Columns) == 0 {
		out = append(out, at("columns")("has no columns"))
	}
	return out
}

// compileColumns checks the columns of q and returns its label columns, in order, and the
// metrics of its value columns.
func compileColumns(q *Query) (labels []string, metrics []Metric, out []problem) {
	seen := map[string]bool{}
	for i, c := range q.Columns {
		path := []any{"columns", i}
		if c.Name == "" {
			out = append(out, at(path...)("column has no name"))
			continue
		}
		if seen[c.Name] {
			out = append(out, at(path...)("column %q appears twice", c.Name))
		}
		seen[c.Name] = true
		if c.MaxVersion != 0 && c.MaxVersion <= c.MinVersion {
			out = append(out, at(path...)("column %q: max_version %d must be above min_version %d", c.Name, c.MaxVersion, c.MinVersion))
		}
		switch c.Usage {
		case UsageLabel:
			out = append(out, checkLabel(path, c)...)
			labels = append(labels, c.Name)
			continue
		case UsageDiscard:
			continue
		case "":
			out = append(out, at(path...)("column %q has no usage (want label, counter, gauge, discard, mapped or duration)", c.Name))
			continue
		}
		m, problems := compileMetric(q, path, c)
		out = append(out, problems...)
		if m == nil {
			continue
		}
		for _, prev := range metrics {
			if prev.Name == m.Name && overlapRange(prev.MinVersion, prev.MaxVersion, m.MinVersion, m.MaxVersion) {
				out = append(out, at(path...)("metric %q is produced by two columns (allowed only for disjoint version ranges)", m.Name))
			}
		}
		metrics = append(metrics, *m)
	}
	return labels, metrics, out
}

// checkLabel checks a label column at path.
func checkLabel(path []any, c Column) []problem {
	var out []problem
	if c.MinVersion != 0 || c.MaxVersion != 0 {
		out = append(out, at(path...)("label column %q cannot have a version range", c.Name))
	}
	if !labelNameRe.MatchString(c.Name) || strings.HasPrefix(c.Name, "__") {
		out = append(out, at(path...)("column %q is not a valid label name", c.Name))
	}
	if slices.Contains(reservedLabels, c.Name) {
		out = append(out, at(path...)("label %q is reserved: the exporter adds it to every series", c.Name))
	}
	return out
}

// compileMetric returns the metric of a value column at path, nil for an unknown usage.
func compileMetric(q *Query, path []any, c Column) (*Metric, []problem) {
	var out []problem
	m := Metric{Name: cmp.Or(c.Metric, q.Name+"_"+c.Name), Help: cmp.Or(c.Help, q.Help), Column: c.Name,
		Scale: cmp.Or(c.Scale, 1), Mapping: c.Mapping, MinVersion: c.MinVersion, MaxVersion: c.MaxVersion}
	switch c.Usage {
	case UsageCounter:
		m.Type = Counter
	case UsageGauge:
		m.Type = Gauge
	case UsageMapped:
		m.Type = Gauge
		if len(c.Mapping) == 0 {
			out = append(out, at(path...)("column %q: usage mapped needs a mapping", c.Name))
		}
	case UsageDuration:
		m.Type = Gauge
		m.Milliseconds = true
	default:
		return nil, append(out, at(append(path, "usage")...)("column %q: unknown usage %q (want label, counter, gauge, discard, mapped or duration)", c.Name, c.Usage))
	}
	if c.Usage != UsageMapped && len(c.Mapping) > 0 {
		out = append(out, at(append(path, "mapping")...)("column %q: mapping is only for usage mapped", c.Name))
	}
	if !metricNameRe.MatchString(m.Name) {
		out = append(out, at(path...)("metric name %q is not valid", m.Name))
	}
	m.Help = cmp.Or(m.Help, m.Name)
	m.Type = ExposedType(m.Name, m.Type)
	return &m, out
}

func overlap(a, b Variant) bool {
	return overlapRange(a.MinVersion, a.MaxVersion, b.MinVersion, b.MaxVersion)
}

// overlapRange reports whether [aLo, aHi) and [bLo, bHi) meet, 0 meaning unbounded.
func overlapRange(aLo, aHi, bLo, bHi int) bool {
	if aHi == 0 {
		aHi = int(^uint(0) >> 1)
	}
	if bHi == 0 {
		bHi = int(^uint(0) >> 1)
	}
	return aLo < bHi && bLo < aHi
}

// checkRequirement returns what is wrong with a requirement, or "".
func checkRequirement(r string) string {
	name, op, version := splitRequirement(r)
	ok := false
	for _, p := range knownRequires {
		ok = ok || (strings.HasPrefix(name, p) && len(name) > len(p))
	}
	if !ok {
		return fmt.Sprintf("unknown requirement %q (want extension:NAME or feature:NAME, optionally with >=, >, <=, < or = and a version)", r)
	}
	if op != "" && !versionRe.MatchString(version) {
		return fmt.Sprintf("requirement %q: %q is not a version such as 1.11", r, version)
	}
	return ""
}

var versionRe = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// Set is every query of every loaded pack, checked across packs.
type Set struct {
	Packs    []*Pack
	Replaced []Replacement
	// Shadowed are metrics of default queries that a user query produces too: the user's
	// wins, and the default query keeps running for its other metrics.
	Shadowed []Shadow
}

// Shadow records a metric of a default query that a user query took over.
type Shadow struct {
	Metric      string
	Default, By *Query
}

// For returns the queries of a source kind, in pack and file order.
func (s *Set) For(source string) []*Query {
	var qs []*Query
	for _, p := range s.Packs {
		if p.Source == source {
			qs = append(qs, p.Queries...)
		}
	}
	return qs
}

// NewSet checks packs against each other. A query of a user pack replaces the default query
// of the same source and name (Replaced lists them), and a metric of a user query replaces
// the same metric of a default query (Shadowed: postgres_exporter's queries.yaml names
// pg_postmaster_start_time_seconds as the default pg_system does); two user queries of one
// name are an error. A metric produced by several queries (version variants written as
// separate queries, say) must have one type, help and label set.
func NewSet(defaults, user []*Pack) (*Set, error) {
	type owner struct {
		q *Query
		m Metric
	}
	var errs []error
	userNames := map[string]*Query{}
	dup := map[*Query]bool{}
	for _, p := range user {
		for _, q := range p.Queries {
			key := q.Source + "/" + q.Name
			if prev, ok := userNames[key]; ok {
				errs = append(errs, yamlx.Errorf(q.File, q.Line, "query %q is already defined at %s:%d", q.Name, prev.File, prev.Line))
				dup[q] = true
				continue
			}
			userNames[key] = q
		}
	}
	userMetrics := map[string]*Query{}
	for _, p := range user {
		for _, q := range p.Queries {
			for _, m := range q.Metrics {
				if _, ok := userMetrics[m.Name]; !ok && !dup[q] {
					userMetrics[m.Name] = q
				}
			}
		}
	}
	set := &Set{}
	for _, p := range defaults {
		kept := &Pack{File: p.File, Source: p.Source}
		for _, q := range p.Queries {
			if u, ok := userNames[q.Source+"/"+q.Name]; ok {
				set.Replaced = append(set.Replaced, Replacement{Default: q, By: u})
				continue
			}
			kept.Queries = append(kept.Queries, set.shadow(q, userMetrics))
		}
		if len(kept.Queries) > 0 {
			set.Packs = append(set.Packs, kept)
		}
	}
	set.Packs = append(set.Packs, user...)
	metrics := map[string]owner{}
	for _, p := range set.Packs {
		for _, q := range p.Queries {
			if dup[q] {
				continue
			}
			for _, m := range q.Metrics {
				prev, ok := metrics[m.Name]
				if !ok {
					metrics[m.Name] = owner{q, m}
					continue
				}
				switch {
				case prev.m.Type != m.Type:
					errs = append(errs, yamlx.Errorf(q.File, q.Line, "query %q: metric %q is a %s here but a %s in query %q (%s:%d)", q.Name, m.Name, m.Type, prev.m.Type, prev.q.Name, prev.q.File, prev.q.Line))
				case !slices.Equal(prev.q.Labels, q.Labels):
					errs = append(errs, yamlx.Errorf(q.File, q.Line, "query %q: metric %q has labels [%s] here but [%s] in query %q (%s:%d)", q.Name, m.Name, strings.Join(q.Labels, ", "), strings.Join(prev.q.Labels, ", "), prev.q.Name, prev.q.File, prev.q.Line))
				case prev.m.Help != m.Help:
					errs = append(errs, yamlx.Errorf(q.File, q.Line, "query %q: metric %q has another help text in query %q (%s:%d)", q.Name, m.Name, prev.q.Name, prev.q.File, prev.q.Line))
				}
			}
		}
	}
	if err := yamlx.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// shadow returns q without the metrics a user query produces (a copy; q itself when it
// keeps them all), and records them.
func (s *Set) shadow(q *Query, userMetrics map[string]*Query) *Query {
	var keep []Metric
	for _, m := range q.Metrics {
		if u, ok := userMetrics[m.Name]; ok && u.Source == q.Source {
			s.Shadowed = append(s.Shadowed, Shadow{Metric: m.Name, Default: q, By: u})
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == len(q.Metrics) {
		return q
	}
	qc := *q
	qc.Metrics = keep
	return &qc
}

// Replacement records a default query that a user pack replaced.
type Replacement struct {
	Default, By *Query
}

// Defaults returns the packs embedded in the binary; kinds must hold the source of each.
func Defaults(kinds SourceKinds) ([]*Pack, error) { return DefaultsOf(kinds, nil) }

// DefaultsOf returns the embedded packs whose source want accepts (nil: all): a process
// watching PostgreSQL alone does not parse the Redis and Elasticsearch packs at every start.
func DefaultsOf(kinds SourceKinds, want func(source string) bool) ([]*Pack, error) {
	return loadFS(defaultPacks, "packs", "queries/", kinds, want, false)
}

// DefaultSet is the set of the embedded packs alone, without user packs.
func DefaultSet(kinds SourceKinds) (*Set, error) {
	defaults, err := Defaults(kinds)
	if err != nil {
		return nil, err
	}
	return NewSet(defaults, nil)
}

// LoadPaths loads pack files of the given kinds, and every *.yml / *.yaml file of the directories given.
func LoadPaths(paths []string, kinds SourceKinds) ([]*Pack, error) {
	var packs []*Pack
	var errs []error
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("pack path: %w", err))
			continue
		}
		if fi.IsDir() {
			ps, err := loadFS(os.DirFS(p), ".", p+string(filepath.Separator), kinds, nil, true)
			errs = append(errs, err)
			packs = append(packs, ps...)
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("pack: %w", err))
			continue
		}
		pk, err := Parse(p, data, kinds)
		errs = append(errs, err)
		if pk != nil {
			packs = append(packs, pk)
		}
	}
	return packs, errors.Join(errs...)
}

// sourceLine finds a pack's source: line without parsing it (the header of the embedded packs).
var sourceLine = regexp.MustCompile(`(?m)^source:[ \t]*([A-Za-z_]+)`)

// loadFS loads the packs of a directory. want, when not nil, selects packs by source, read
// from their source: line; strict false decodes them without the strict second parse (the
// embedded packs, see parse).
func loadFS(fsys fs.FS, dir, prefix string, kinds SourceKinds, want func(source string) bool, strict bool) ([]*Pack, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading packs in %s: %w", prefix, err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	// parsed at once (each file on its own): the default packs are a few thousand lines of
	// YAML that every start, advise's too, reads before anything else
	parsed := make([]*Pack, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Go(func() {
			data, err := fs.ReadFile(fsys, filepath.ToSlash(filepath.Join(dir, n)))
			if err != nil {
				errs[i] = err
				return
			}
			if want != nil {
				source := SourcePostgres
				if m := sourceLine.FindSubmatch(data); m != nil {
					source = string(m[1])
				}
				if !want(source) {
					return
				}
			}
			parsed[i], errs[i] = parse(prefix+n, data, kinds, strict)
		})
	}
	wg.Wait()
	var packs []*Pack
	for i, p := range parsed {
		if errs[i] == nil && p != nil {
			packs = append(packs, p)
		}
	}
	return packs, errors.Join(errs...)
}
