// Package jsonrows turns JSON documents into query rows, as the json part of a pack body
// says (JSON): Elasticsearch answers (http bodies) and pgbackrest's JSON output (exec
// bodies) go through the same language.
package jsonrows

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Decode reads one JSON document (numbers as json.Number, which Extract expects) of at most
// max bytes; what names the document in errors (GET /_nodes/stats, pgbackrest info).
func Decode(r io.Reader, max int64, what string) (any, error) {
	lr := &io.LimitedReader{R: r, N: max + 1}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	var doc any
	err := dec.Decode(&doc)
	switch {
	case lr.N <= 0:
		return nil, fmt.Errorf("%s: the answer is larger than %d bytes", what, max)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%s: the JSON answer is cut short after %d bytes", what, max+1-lr.N)
	case err != nil:
		return nil, fmt.Errorf("%s: the answer is not JSON: %w", what, err)
	}
	return doc, nil
}

// Env is what an extraction knows besides the document.
type Env struct {
	// Cluster is what $cluster reads (the Elasticsearch cluster name).
	Cluster string
	// Now is the time since takes ages from.
	Now time.Time
	// Version is the server's version number, for the version ranges of columns.
	Version int
}

// frame is one level of the rows walk: the document root, then the element each * matched.
type frame struct {
	key   string
	value any
}

// Plan is a JSON spec compiled against the columns of its query.
type Plan struct {
	rows    []RowStep
	columns []planColumn
	where   []*Expr
	body    *JSON
}

type planColumn struct {
	name    string
	expr    *Expr // nil for a derived column (group count, states label) or a discarded one without a field
	check   bool  // some row must have it: a missing path is a rename or a typo
	version func(int) bool
}

// Compile builds the plan of a spec for q's columns. Packs are validated on load, so an error
// here is a bug in a pack that bypassed validation.
func Compile(q *queries.Query, h *JSON) (*Plan, error) {
	rows, err := ParseRows(h.Rows)
	if err != nil {
		return nil, err
	}
	p := &Plan{rows: rows, body: h}
	for _, w := range h.Where {
		e, err := ParseExpr(w)
		if err != nil {
			return nil, err
		}
		p.where = append(p.where, e)
	}
	for i := range q.Columns {
		c := &q.Columns[i]
		pc := planColumn{name: c.Name, version: c.InVersion}
		// a discarded column is still read when the group picks rows by it, or when it has a
		// field of its own: the advisor reads it (a backup's label, a stanza's message)
		picks := h.Group != nil && h.Group.Latest == c.Name
		_, field := h.Fields[c.Name]
		if !h.Derived(c.Name) && (c.Usage != queries.UsageDiscard || picks || field) {
			e, err := ParseExpr(h.ColumnExpr(c.Name))
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", c.Name, err)
			}
			pc.expr, pc.check = e, !e.Optional()
		}
		p.columns = append(p.columns, pc)
	}
	return p, nil
}

// Extract turns a decoded JSON document (numbers as json.Number) into rows.
func (p *Plan) Extract(doc any, e Env) (*queries.Rows, error) {
	out := &queries.Rows{Columns: make([]string, len(p.columns))}
	for i, c := range p.columns {
		out.Columns[i] = c.name
	}
	stacks, err := walkRows(doc, p.rows)
	if err != nil {
		return nil, err
	}
	found := make([]bool, len(p.columns))
	for _, st := range stacks {
		keep := true
		for _, w := range p.where {
			v, _ := eval(w, st, e)
			if !truthy(v) {
				keep = false
				break
			}
		}
		if !keep {
			continue
		}
		row := make([]any, len(p.columns))
		for i, c := range p.columns {
			if c.expr == nil {
				continue
			}
			v, ok := eval(c.expr, st, e)
			row[i] = v
			found[i] = found[i] || ok
		}
		out.Values = append(out.Values, row)
	}
	if len(out.Values) > 0 {
		var missing []string
		for i, c := range p.columns {
			if c.check && !found[i] && c.version(e.Version) {
				missing = append(missing, fmt.Sprintf("%q", c.expr.Text))
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("no row of the answer has %s (renamed in this version? mark a field that may be absent with a trailing ?)", strings.Join(missing, ", "))
		}
	}
	if g := p.body.Group; g != nil {
		out.Values = p.group(out.Values, g)
	}
	if s := p.body.States; s != nil {
		out.Values = p.states(out.Values, s)
	}
	return out, nil
}

// walkRows follows the rows path and returns, for each row, its stack of frames: the root,
// then the element each * matched. Keys between two * move a cursor, not the frame, so that
// ^ always reads the element of a *. A key missing before the first * is an error (the answer
// is not what the query expects); a key missing under a * only drops that element (a node
// without a data path, say).
func walkRows(doc any, steps []RowStep) ([][]frame, error) {
	type walk struct {
		stack  []frame
		cursor any
	}
	walks := []walk{{stack: []frame{{value: doc}}, cursor: doc}}
	wild := false
	for _, st := range steps {
		var next []walk
		for _, w := range walks {
			if !st.Wildcard {
				v, ok := Lookup(w.cursor, []string{st.Key})
				if !ok {
					if !wild {
						return nil, fmt.Errorf("the answer has no %q where the rows path expects it", st.Key)
					}
					continue
				}
				next = append(next, walk{w.stack, v})
				continue
			}
			push := func(k string, v any) {
				next = append(next, walk{append(slices.Clip(w.stack), frame{key: k, value: v}), v})
			}
			switch t := w.cursor.(type) {
			case map[string]any:
				for _, k := range sortedKeys(t) {
					push(k, t[k])
				}
			case []any:
				for i, v := range t {
					push(strconv.Itoa(i), v)
				}
			case nil:
			default:
				if !wild {
					return nil, fmt.Errorf("the rows path expects a map or a list at %q, the answer has %T", st.Key, t)
				}
			}
		}
		walks = next
		wild = wild || st.Wildcard
	}
	stacks := make([][]frame, len(walks))
	for i, w := range walks {
		stacks[i] = w.stack
	}
	return stacks, nil
}

// Lookup follows a dotted path. Elasticsearch writes a setting whose name is also the prefix
// of other settings with dots in the key ("low": "85%", "low.max_headroom": "200gb"), and the
// cat APIs name columns "unassigned.reason": at each level, the nested key is tried first,
// then keys that join the next parts with dots.
func Lookup(v any, path []string) (any, bool) {
	if len(path) == 0 {
		return v, true
	}
	switch t := v.(type) {
	case map[string]any:
		key := path[0]
		for i := 1; i <= len(path); i++ {
			if i > 1 {
				key += "." + path[i-1]
			}
			if child, ok := t[key]; ok {
				if r, ok := Lookup(child, path[i:]); ok {
					return r, true
				}
			}
		}
	case []any:
		if i, err := strconv.Atoi(path[0]); err == nil && i >= 0 && i < len(t) {
			return Lookup(t[i], path[1:])
		}
	}
	return nil, false
}

// eval computes an expression for one row. found reports whether a source was present in the
// document (even as null), for the check that a mapped field exists at all.
func eval(x *Expr, stack []frame, e Env) (v any, found bool) {
	for _, r := range x.Sources {
		rv, ok := resolve(r, stack, e)
		found = found || ok
		if ok && rv != nil {
			v = rv
			break
		}
	}
	for _, f := range x.Funcs {
		switch f.Name {
		case "div", "sub": // the argument is read from the row too
			d, _ := resolve(*f.Ref, stack, e)
			if f.Name == "div" {
				v = divide(v, d)
			} else {
				v = subtract(v, d)
			}
		case "find":
			v = find(v, f.Match, stack, e)
		default:
			v = apply(f, v, e)
		}
	}
	return normalize(v), found
}

func resolve(r Ref, stack []frame, e Env) (any, bool) {
	if r.Kind == RefLiteral {
		return r.Literal, true
	}
	if r.Kind == RefCluster {
		return e.Cluster, true
	}
	if r.Root {
		return Lookup(stack[0].value, r.Path)
	}
	i := len(stack) - 1 - r.Up
	if i < 0 {
		return nil, false
	}
	switch r.Kind {
	case RefKey:
		return stack[i].key, true
	case RefValue:
		return stack[i].value, true
	}
	return Lookup(stack[i].value, r.Path)
}

// find returns the first element of a list (or of a map, by sorted key) whose Key paths all
// equal, as text, the values their sources read from the row: the database entry of a backup
// (^db | find id=database.id,repo-key=database.repo-key). nil when none does.
func find(v any, match []FuncMatch, stack []frame, e Env) any {
	var elems []any
	switch t := v.(type) {
	case []any:
		elems = t
	case map[string]any:
		for _, k := range sortedKeys(t) {
			elems = append(elems, t[k])
		}
	}
	want := make([]string, len(match))
	for i, m := range match {
		rv, _ := resolve(m.Ref, stack, e)
		s, ok := text(rv)
		if !ok {
			return nil
		}
		want[i] = s
	}
	for _, el := range elems {
		ok := true
		for i, m := range match {
			ev, found := Lookup(el, m.Key)
			s, isText := text(ev)
			ok = ok && found && isText && s == want[i]
		}
		if ok {
			return el
		}
	}
	return nil
}

// normalize turns a JSON value into one of the types queries.Rows holds. Objects and lists
// have no sample value: they become nil.
func normalize(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			return i
		}
		if f, err := t.Float64(); err == nil {
			return f
		}
		return nil
	case map[string]any, []any:
		return nil
	}
	return v
}

// number reads a value as a float: JSON numbers, and strings that hold one (Elasticsearch
// writes many numbers as strings), besides what queries.Number reads.
func number(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f, err == nil && !math.IsNaN(f)
	}
	return queries.Number(v)
}

// text reads a scalar as a string, for comparisons.
func text(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		return t.String(), true
	case bool:
		return strconv.FormatBool(t), true
	case int64:
		return strconv.FormatInt(t, 10), true
	case float64:
		return strconv.FormatFloat(t, 'g', -1, 64), true
	}
	return "", false
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case string:
		return t != "" && t != "false"
	}
	f, ok := number(v)
	return ok && f != 0
}

// group merges rows on the By columns, in order of first appearance.
func (p *Plan) group(rows [][]any, g *Group) [][]any {
	idx := map[string]int{}
	for i, c := range p.columns {
		idx[c.name] = i
	}
	if g.Latest != "" {
		return latest(rows, g.By, idx, idx[g.Latest])
	}
	role := make([]string, len(p.columns)) // "by", "count", "max", "min" or "" (sum)
	for _, c := range g.By {
		role[idx[c]] = "by"
	}
	for _, c := range g.Max {
		role[idx[c]] = "max"
	}
	for _, c := range g.Min {
		role[idx[c]] = "min"
	}
	if g.Count != "" {
		role[idx[g.Count]] = "count"
	}
	var out [][]any
	pos := map[string]int{}
	for _, row := range rows {
		var k strings.Builder
		for i, r := range role {
			if r == "by" {
				s, _ := text(row[i])
				k.WriteString(s)
				k.WriteByte(0xff)
			}
		}
		j, ok := pos[k.String()]
		if !ok {
			j = len(out)
			pos[k.String()] = j
			merged := make([]any, len(row))
			for i, r := range role {
				if r == "by" {
					merged[i] = row[i]
				}
			}
			out = append(out, merged)
		}
		acc := out[j]
		for i, r := range role {
			switch r {
			case "by":
			case "count":
				n, _ := acc[i].(int64)
				acc[i] = n + 1
			default:
				f, ok := number(row[i])
				if !ok {
					continue
				}
				cur, has := number(acc[i])
				switch {
				case !has:
					acc[i] = f
				case r == "max":
					acc[i] = math.Max(cur, f)
				case r == "min":
					acc[i] = math.Min(cur, f)
				default:
					acc[i] = cur + f
				}
			}
		}
	}
	return out
}

// states expands each row into one row per state.
// latest keeps, of the rows with equal by values, the one whose column col is largest, whole:
// the newest backup of each type, with its own size and error flag. Groups keep the order in
// which they first appear.
func latest(rows [][]any, by []string, idx map[string]int, col int) [][]any {
	var out [][]any
	pos := map[string]int{}
	for _, row := range rows {
		var k strings.Builder
		for _, c := range by {
			s, _ := text(row[idx[c]])
			k.WriteString(s)
			k.WriteByte(0xff)
		}
		j, ok := pos[k.String()]
		if !ok {
			pos[k.String()] = len(out)
			out = append(out, row)
			continue
		}
		cur, hasCur := number(out[j][col])
		v, has := number(row[col])
		if has && (!hasCur || v > cur) {
			out[j] = row
		}
	}
	return out
}

func (p *Plan) states(rows [][]any, s *States) [][]any {
	col, lab := -1, -1
	for i, c := range p.columns {
		switch c.name {
		case s.Column:
			col = i
		case s.Label:
			lab = i
		}
	}
	var out [][]any
	for _, row := range rows {
		cur, ok := text(row[col])
		for _, v := range s.Values {
			r := slices.Clone(row)
			r[lab] = v
			r[col] = int64(0)
			if ok && cur == v {
				r[col] = int64(1)
			}
			out = append(out, r)
		}
		if ok && !slices.Contains(s.Values, cur) {
			r := slices.Clone(row)
			r[lab], r[col] = cur, int64(1)
			out = append(out, r)
		}
	}
	return out
}
