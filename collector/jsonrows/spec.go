package jsonrows

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// JSON says how a JSON document becomes rows. It is the shared part of the bodies that
// read JSON: http (an Elasticsearch answer) and exec (pgbackrest info --output=json).
//
//	rows: nodes.*.breakers.*             # one row per breaker of every node
//	fields:                              # column name -> expression
//	  name: ^name                        #   ^ = the object one * up (the node)
//	  breaker: $key                      #   the key the last * matched
//	where: ["$key | ne parent"]          # keep rows where every expression is true
//
// A column that fields does not define is itself an expression (usually a path relative to
// the row, such as jvm.mem.heap_used_in_bytes). See docs/elasticsearch.md for the language.
type JSON struct {
	// Rows is a dotted path whose * parts iterate a map's keys (sorted) or an array's
	// elements; each element matched by the last * is a row. Empty: the whole document is
	// one row.
	Rows string `yaml:"rows"`
	// Fields define columns by expression.
	Fields map[string]string `yaml:"fields"`
	// Where keeps the rows for which every expression is true.
	Where []string `yaml:"where"`
	// Group merges rows with equal values in By.
	Group *Group `yaml:"group"`
	// States turns a status column into one row per state (a labelled gauge, 1 for the current
	// state), as elasticsearch_exporter exports cluster health.
	States *States `yaml:"states"`
}

// Group merges rows that have the same values in the By columns. Count, when set, is a column
// that receives the number of rows merged; Max and Min columns keep their largest or smallest
// value; every other column is summed. With Latest, the merged row is instead the one whose
// Latest column is largest, kept whole (the newest backup of each type, say); that column may
// be a discarded one.
type Group struct {
	By     []string `yaml:"by"`
	Count  string   `yaml:"count"`
	Max    []string `yaml:"max"`
	Min    []string `yaml:"min"`
	Latest string   `yaml:"latest"`
}

// States expands every row into one row per value of Values: Label (a label column) holds the
// value, and Column is 1 where the row's Column equals it, else 0. A current value that is not
// listed gets a row of its own (with 1), so that an unexpected state is never invisible.
type States struct {
	Column string   `yaml:"column"`
	Label  string   `yaml:"label"`
	Values []string `yaml:"values"`
}

// Validate checks the spec; kind (http, exec) prefixes the messages.
func (j *JSON) Validate(kind string) []string {
	var msgs []string
	if _, err := ParseRows(j.Rows); err != nil {
		msgs = append(msgs, kind+" rows: "+err.Error())
	}
	for _, name := range sortedKeys(j.Fields) {
		if _, err := ParseExpr(j.Fields[name]); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s field %q: %v", kind, name, err))
		}
	}
	for i, w := range j.Where {
		if _, err := ParseExpr(w); err != nil {
			msgs = append(msgs, fmt.Sprintf("%s where[%d]: %v", kind, i, err))
		}
	}
	if g := j.Group; g != nil {
		if len(g.By) == 0 {
			msgs = append(msgs, kind+" group needs by (the columns rows are merged on)")
		}
		if g.Latest != "" && (g.Count != "" || len(g.Max) > 0 || len(g.Min) > 0) {
			msgs = append(msgs, kind+" group: latest keeps one row whole; it takes no count, max or min")
		}
	}
	if s := j.States; s != nil {
		if s.Column == "" || s.Label == "" || len(s.Values) == 0 {
			msgs = append(msgs, kind+" states needs column, label and values")
		}
		for i, v := range s.Values {
			if slices.Contains(s.Values[:i], v) {
				msgs = append(msgs, fmt.Sprintf("%s states: value %q appears twice", kind, v))
			}
		}
	}
	return msgs
}

// Derived reports whether column is made by the spec's group or states (it is not read from
// the JSON document).
func (j *JSON) Derived(column string) bool {
	return (j.Group != nil && j.Group.Count != "" && j.Group.Count == column) ||
		(j.States != nil && j.States.Label == column)
}

// ColumnExpr returns the expression text of a column: its field, or its name.
func (j *JSON) ColumnExpr(column string) string {
	if e, ok := j.Fields[column]; ok {
		return e
	}
	return column
}

// Spec is the spec itself, for the bodies that embed it.
func (j *JSON) Spec() *JSON { return j }

// CheckColumns checks the spec against the columns of q: every column must be computable,
// fields must define columns, and group and states must name columns of the right usage.
// kind (http, exec) starts the messages.
func (h *JSON) CheckColumns(q *queries.Query, kind string) []string {
	usage := map[string]queries.Usage{}
	for _, c := range q.Columns {
		usage[c.Name] = c.Usage
	}
	var msgs []string
	for _, name := range sortedKeys(h.Fields) {
		if _, ok := usage[name]; !ok {
			msgs = append(msgs, fmt.Sprintf("%s field %q is not a column", kind, name))
		}
	}
	for _, c := range q.Columns {
		if _, ok := h.Fields[c.Name]; ok || h.Derived(c.Name) || c.Usage == queries.UsageDiscard {
			continue
		}
		if _, err := ParseExpr(c.Name); err != nil {
			msgs = append(msgs, fmt.Sprintf("column %q is not a field and not an expression: %v", c.Name, err))
		}
	}
	isCol := func(what, name string, want ...queries.Usage) {
		u, ok := usage[name]
		switch {
		case !ok:
			msgs = append(msgs, fmt.Sprintf("%s %s %q is not a column", kind, what, name))
		case len(want) > 0 && !slices.Contains(want, u):
			msgs = append(msgs, fmt.Sprintf("%s %s %q must be a %s column, not %s", kind, what, name, want[0], u))
		}
	}
	if g := h.Group; g != nil {
		for _, c := range g.By {
			isCol("group.by", c)
		}
		if g.Count != "" {
			isCol("group.count", g.Count, queries.UsageGauge, queries.UsageCounter)
		}
		for _, c := range append(slices.Clone(g.Max), g.Min...) {
			isCol("group max/min column", c)
		}
		if g.Latest != "" {
			isCol("group.latest", g.Latest)
		}
		for _, c := range q.Columns {
			if c.Usage == queries.UsageLabel && !slices.Contains(g.By, c.Name) && !h.Derived(c.Name) {
				msgs = append(msgs, fmt.Sprintf("label column %q must be in %s group.by (rows are merged on their labels)", c.Name, kind))
			}
		}
	}
	if s := h.States; s != nil && s.Column != "" && s.Label != "" {
		isCol("states.column", s.Column, queries.UsageGauge)
		isCol("states.label", s.Label, queries.UsageLabel)
	}
	return msgs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// RowStep is one part of a rows path: a key to descend into, or a wildcard.
type RowStep struct {
	Wildcard bool
	Key      string
}

// ParseRows reads a rows path such as "nodes.*.breakers.*".
func ParseRows(s string) ([]RowStep, error) {
	if s == "" {
		return nil, nil
	}
	segs, err := splitPath(s)
	if err != nil {
		return nil, err
	}
	steps := make([]RowStep, len(segs))
	for i, seg := range segs {
		steps[i] = RowStep{Wildcard: seg == "*", Key: seg}
	}
	if !steps[len(steps)-1].Wildcard {
		return nil, fmt.Errorf("%q must end with * (each element it matches is a row)", s)
	}
	return steps, nil
}

func splitPath(s string) ([]string, error) {
	segs := strings.Split(s, ".")
	for _, seg := range segs {
		if seg == "" {
			return nil, fmt.Errorf("path %q has an empty part", s)
		}
		if strings.ContainsAny(seg, "|,'$^?") {
			return nil, fmt.Errorf("path %q: part %q has one of | , ' $ ^ ?", s, seg)
		}
	}
	return segs, nil
}

// RefKind says what a reference in an expression reads.
type RefKind int

// Reference kinds.
const (
	RefPath    RefKind = iota // a dotted path from the row (or the root, or an outer row)
	RefKey                    // $key: the key (or array index) the row's * matched
	RefValue                  // $value: the row itself
	RefCluster                // $cluster: the cluster name the probe found
	RefLiteral                // 'text'
)

// Ref is one source of a value in an expression.
type Ref struct {
	Kind RefKind
	// Up is the number of ^: how many * levels above the row the reference is read.
	Up int
	// Root: the path starts at the document root ($.).
	Root    bool
	Path    []string
	Literal string
	// Optional (a trailing ?) exempts the reference from the check that some row has it.
	Optional bool
}

// Func is one transform of an expression.
type Func struct {
	Name string
	Arg  string
	// Args is Arg split on commas (in); N is Arg as a number (truncate); Ref is Arg as a
	// source (div, sub); Path is Arg as a path (get); Pairs is Arg as A=X,B=Y (map); Match is
	// Arg as KEY=SOURCE,... (find).
	Args  []string
	N     int
	Ref   *Ref
	Path  []string
	Pairs map[string]string
	Match []FuncMatch
}

// FuncMatch is one condition of find: the element's Key path equals, as text, the value of
// Ref read from the row.
type FuncMatch struct {
	Key []string
	Ref Ref
}

// Expr is a parsed expression: "source[, source...] [| func [arg]]...". The value is the first
// source that is present and not null, passed through the functions left to right.
type Expr struct {
	Text    string
	Sources []Ref
	Funcs   []Func
}

// Optional reports whether the expression may be absent from every row: all its sources are
// optional or not paths, or a function (exists, empty, default) makes absence a value.
func (e *Expr) Optional() bool {
	for _, f := range e.Funcs {
		if f.Name == "exists" || f.Name == "empty" || f.Name == "default" {
			return true
		}
	}
	for _, s := range e.Sources {
		if s.Kind == RefPath && !s.Optional {
			return false
		}
	}
	return true
}

// funcArgs says which functions exist and what argument each takes: "" none, "text" any
// text, "list" a comma-separated list, "n" a positive integer, "unit" ms or s, "source" a
// source as in the expression (a path from the row, ^path, $.path), "path" a dotted path,
// "pairs" A=X,B=Y, "match" KEY=SOURCE,KEY=SOURCE.
var funcArgs = map[string]string{
	"ratio": "", "bytes": "", "seconds": "", "count": "", "fields": "", "exists": "",
	"empty": "", "not": "", "join": "",
	"since": "unit", "contains": "text", "prefix": "text", "eq": "text", "ne": "text", "wal": "",
	"default": "text", "in": "list", "truncate": "n", "div": "source", "sub": "source",
	"get": "path", "map": "pairs", "find": "match", "datetime": "unit",
}

// FuncNames lists the functions of the expression language.
func FuncNames() []string { return sortedKeys(funcArgs) }

// ParseExpr reads an expression. See docs/elasticsearch.md.
func ParseExpr(s string) (*Expr, error) {
	e := &Expr{Text: s}
	parts := splitUnquoted(s, '|')
	if strings.TrimSpace(parts[0]) == "" {
		return nil, fmt.Errorf("expression %q has no source", s)
	}
	for _, src := range splitUnquoted(parts[0], ',') {
		r, err := parseRef(strings.TrimSpace(src))
		if err != nil {
			return nil, fmt.Errorf("expression %q: %w", s, err)
		}
		e.Sources = append(e.Sources, r)
	}
	for _, p := range parts[1:] {
		name, arg, _ := strings.Cut(strings.TrimSpace(p), " ")
		arg = strings.TrimSpace(arg)
		if name == "" {
			return nil, fmt.Errorf("expression %q: a | without a function after it", s)
		}
		kind, ok := funcArgs[name]
		if !ok {
			return nil, fmt.Errorf("expression %q: unknown function %q (want one of %s)", s, name, strings.Join(FuncNames(), ", "))
		}
		f := Func{Name: name, Arg: arg}
		switch {
		case kind == "" && arg != "":
			return nil, fmt.Errorf("expression %q: %s takes no argument", s, name)
		case kind != "" && arg == "":
			return nil, fmt.Errorf("expression %q: %s needs an argument", s, name)
		case kind == "unit" && arg != "ms" && arg != "s":
			return nil, fmt.Errorf("expression %q: %s takes ms or s (the unit of the epoch timestamp), not %q", s, name, arg)
		case kind == "n":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("expression %q: %s needs a positive integer, not %q", s, name, arg)
			}
			f.N = n
		case kind == "list":
			for _, a := range strings.Split(arg, ",") {
				f.Args = append(f.Args, strings.TrimSpace(a))
			}
		case kind == "source":
			r, err := parseRef(arg)
			if err != nil {
				return nil, fmt.Errorf("expression %q: %s: %w", s, name, err)
			}
			f.Ref = &r
		case kind == "path":
			segs, err := splitPath(arg)
			if err != nil {
				return nil, fmt.Errorf("expression %q: %s: %w", s, name, err)
			}
			f.Path = segs
		case kind == "pairs":
			f.Pairs = map[string]string{}
			for _, p := range strings.Split(arg, ",") {
				from, to, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || from == "" {
					return nil, fmt.Errorf("expression %q: %s takes A=X,B=Y (a value and what it becomes), not %q", s, name, p)
				}
				f.Pairs[from] = to
			}
		case kind == "match":
			for _, p := range strings.Split(arg, ",") {
				key, src, ok := strings.Cut(strings.TrimSpace(p), "=")
				if !ok || key == "" {
					return nil, fmt.Errorf("expression %q: %s takes KEY=SOURCE,... (a path in the element and a source of the row), not %q", s, name, p)
				}
				segs, err := splitPath(key)
				if err != nil {
					return nil, fmt.Errorf("expression %q: %s: %w", s, name, err)
				}
				r, err := parseRef(strings.TrimSpace(src))
				if err != nil {
					return nil, fmt.Errorf("expression %q: %s: %w", s, name, err)
				}
				f.Match = append(f.Match, FuncMatch{Key: segs, Ref: r})
			}
		}
		e.Funcs = append(e.Funcs, f)
	}
	return e, nil
}

func parseRef(s string) (Ref, error) {
	var r Ref
	if s == "" {
		return r, fmt.Errorf("empty source")
	}
	if strings.HasPrefix(s, "'") {
		if len(s) < 2 || !strings.HasSuffix(s, "'") || strings.Count(s, "'") != 2 {
			return r, fmt.Errorf("literal %s is not closed by one '", s)
		}
		return Ref{Kind: RefLiteral, Literal: s[1 : len(s)-1]}, nil
	}
	if strings.HasSuffix(s, "?") {
		r.Optional = true
		s = s[:len(s)-1]
	}
	for strings.HasPrefix(s, "^") {
		r.Up++
		s = s[1:]
	}
	switch {
	case s == "$key":
		r.Kind = RefKey
	case s == "$value":
		r.Kind = RefValue
	case s == "$cluster":
		if r.Up > 0 {
			return r, fmt.Errorf("$cluster takes no ^")
		}
		r.Kind = RefCluster
	case strings.HasPrefix(s, "$."):
		if r.Up > 0 {
			return r, fmt.Errorf("$. starts at the root: it takes no ^")
		}
		r.Root = true
		segs, err := splitPath(s[2:])
		if err != nil {
			return r, err
		}
		r.Path = segs
	case strings.HasPrefix(s, "$"):
		return r, fmt.Errorf("unknown variable %s (want $key, $value, $cluster or $.path)", s)
	case s == "":
		return r, fmt.Errorf("^ needs a path, $key or $value after it")
	default:
		segs, err := splitPath(s)
		if err != nil {
			return r, err
		}
		r.Path = segs
	}
	return r, nil
}

// splitUnquoted splits s on sep outside single quotes.
func splitUnquoted(s string, sep byte) []string {
	var parts []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\'':
			quoted = !quoted
		case sep:
			if !quoted {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

// Body is a pack body whose answer is a JSON document that its spec turns into rows.
type Body interface {
	// Validate checks the body on its own.
	Validate() []string
	Spec() *JSON
}

// Kind is the source kind of a body B read as a JSON document under key: B's own checks,
// then its spec's against the query's columns.
func Kind[B any, P interface {
	*B
	Body
}](name, key string) queries.SourceKind {
	return queries.SourceKind{
		Name: name, BodyKey: key,
		NewBody: func() any { return P(new(B)) },
		Compile: func(body any, q *queries.Query) (queries.Body, []queries.Problem) {
			b := body.(P)
			out := queries.Problems(nil, b.Validate())
			return b, append(out, queries.Problems([]any{key}, b.Spec().CheckColumns(q, key))...)
		},
	}
}
