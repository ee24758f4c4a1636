package queries

import (
	"slices"
	"time"
)

// Rows is a query result: column names and, per row, one value per column. Values are nil,
// string, bool, int64, float64 or time.Time.
//
// A source builds rows either row by row (Values) or column by column (a Table): large
// results — a row per table of a catalog of thousands — are kept in typed columns, a third of
// the memory of boxed values and without an allocation per value. Read rows with Len and Value,
// which work for both.
type Rows struct {
	Columns []string
	Values  [][]any
	table   *Table
}

// Len is the number of rows.
func (r *Rows) Len() int {
	if r.table != nil {
		return r.table.n
	}
	return len(r.Values)
}

// Value returns the value of row i in column j.
func (r *Rows) Value(i, j int) any {
	if r.table != nil {
		return r.table.cols[j].value(i)
	}
	return r.Values[i][j]
}

// Text returns the value of row i in column j when it is a string, without boxing it.
func (r *Rows) Text(i, j int) (string, bool) {
	if r.table != nil {
		c := &r.table.cols[j]
		switch c.kind {
		case KindString:
			return c.strs[i], !c.isNull(i)
		case KindAny:
			v, ok := c.anys[i].(string)
			return v, ok
		}
		return "", false // a typed column of another type
	}
	v, ok := r.Values[i][j].(string)
	return v, ok
}

// Time returns the value of row i in column j when it is a time, without boxing it.
func (r *Rows) Time(i, j int) (time.Time, bool) {
	if r.table != nil {
		c := &r.table.cols[j]
		switch {
		case c.isNull(i):
			return time.Time{}, false
		case c.kind == KindTime:
			return time.UnixMicro(c.ints[i]).UTC(), true
		case c.kind == KindAny:
			v, ok := c.anys[i].(time.Time)
			return v, ok
		}
		return time.Time{}, false
	}
	v, ok := r.Values[i][j].(time.Time)
	return v, ok
}

// Number returns the value of row i in column j as a number when it is one (an integer, a
// float, a boolean or a time in unix seconds), without boxing it.
func (r *Rows) Number(i, j int) (float64, bool) {
	if r.table != nil {
		return r.table.cols[j].number(i)
	}
	return Number(r.Values[i][j])
}

// Number is a value as a number when it is one: an integer, a float, a boolean (0 or 1) or a
// time in unix seconds.
func Number(v any) (float64, bool) {
	switch v := v.(type) {
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	case time.Time:
		return float64(v.UnixNano()) / 1e9, true
	}
	return 0, false
}

// Keep drops the rows for which keep is false, in place.
func (r *Rows) Keep(keep func(i int) bool) {
	if r.table != nil {
		r.table.keep(keep)
		return
	}
	kept := r.Values[:0]
	for i, row := range r.Values {
		if keep(i) {
			kept = append(kept, row)
		}
	}
	clear(r.Values[len(kept):])
	r.Values = kept
}

// Append adds the rows of o, which has the same columns.
func (r *Rows) Append(o *Rows) {
	if r.table != nil && o.table != nil && r.table.sameKinds(o.table) {
		r.table.append(o.table)
		return
	}
	if r.table != nil { // a table meets rows of other kinds: both become row-major
		r.Values = make([][]any, 0, r.Len()+o.Len())
		for i := range r.table.n {
			row := make([]any, len(r.table.cols))
			for j := range row {
				row[j] = r.table.cols[j].value(i)
			}
			r.Values = append(r.Values, row)
		}
		r.table = nil
	}
	for i := range o.Len() {
		row := make([]any, len(o.Columns))
		for j := range row {
			row[j] = o.Value(i, j)
		}
		r.Values = append(r.Values, row)
	}
}

// Kind is the type of a Table column.
type Kind uint8

// Column kinds. KindAny holds values of any of the types Rows holds.
const (
	KindAny Kind = iota
	KindInt
	KindFloat
	KindBool
	KindString
	KindTime // unix microseconds
)

// Table builds Rows column by column. Every row appends exactly one value (or a null) to
// every column, in column order.
type Table struct {
	cols []column
	n    int
}

type column struct {
	kind   Kind
	ints   []int64 // KindInt, KindTime, KindBool (0/1)
	floats []float64
	strs   []string
	anys   []any
	null   []bool // set only once a null arrives
}

// NewTable starts a table with columns of the given kinds, with room for capacity rows (a
// good guess saves the copies of growing columns).
func NewTable(kinds []Kind, capacity int) *Table {
	t := &Table{cols: make([]column, len(kinds))}
	for i, k := range kinds {
		c := &t.cols[i]
		c.kind = k
		if capacity <= 0 {
			continue
		}
		switch k {
		case KindInt, KindTime, KindBool:
			c.ints = make([]int64, 0, capacity)
		case KindFloat:
			c.floats = make([]float64, 0, capacity)
		case KindString:
			c.strs = make([]string, 0, capacity)
		default:
			c.anys = make([]any, 0, capacity)
		}
	}
	return t
}

// Rows finishes the table.
func (t *Table) Rows(names []string) *Rows { return &Rows{Columns: names, table: t} }

// EndRow closes a row.
func (t *Table) EndRow() { t.n++ }

// Null appends a null to column j.
func (t *Table) Null(j int) {
	c := &t.cols[j]
	if c.null == nil {
		c.null = make([]bool, t.n, t.n+64)
	}
	c.null = push(c.null, true)
	c.grow()
}

// Int appends an integer (KindInt), a time in unix microseconds (KindTime) or a boolean as 0
// or 1 (KindBool) to column j.
func (t *Table) Int(j int, v int64) {
	c := &t.cols[j]
	appendValue(c, &c.ints, v)
}

// Float appends to a KindFloat column.
func (t *Table) Float(j int, v float64) {
	c := &t.cols[j]
	appendValue(c, &c.floats, v)
}

// String appends to a KindString column.
func (t *Table) String(j int, v string) {
	c := &t.cols[j]
	appendValue(c, &c.strs, v)
}

// appendValue appends v to values, one of column c's typed slices, and marks it not null.
func appendValue[T any](c *column, values *[]T, v T) {
	*values = push(*values, v)
	c.notNull()
}

// Any appends to a KindAny column.
func (t *Table) Any(j int, v any) {
	c := &t.cols[j]
	if v == nil {
		t.Null(j)
		return
	}
	c.anys = push(c.anys, v)
	c.notNull()
}

// push appends v to a column, doubling its capacity when it is full: append grows a large
// slice by a quarter, which copies a column of n values about four times over while it
// fills (a third of the CPU of reading a big catalog with no size to go by, as advise has);
// doubling copies it once.
func push[T any](s []T, v T) []T {
	if len(s) == cap(s) {
		s = slices.Grow(s, max(len(s), 64))
	}
	return append(s, v)
}

// grow appends a zero value for a null.
func (c *column) grow() {
	switch c.kind {
	case KindInt, KindTime, KindBool:
		c.ints = push(c.ints, 0)
	case KindFloat:
		c.floats = push(c.floats, 0)
	case KindString:
		c.strs = push(c.strs, "")
	default:
		c.anys = push(c.anys, nil)
	}
}

func (c *column) notNull() {
	if c.null != nil {
		c.null = push(c.null, false)
	}
}

func (c *column) isNull(i int) bool { return c.null != nil && c.null[i] }

func (c *column) value(i int) any {
	if c.isNull(i) {
		return nil
	}
	switch c.kind {
	case KindInt:
		return c.ints[i]
	case KindTime:
		return time.UnixMicro(c.ints[i]).UTC()
	case KindBool:
		return c.ints[i] != 0
	case KindFloat:
		return c.floats[i]
	case KindString:
		return c.strs[i]
	}
	return c.anys[i]
}

func (c *column) number(i int) (float64, bool) {
	if c.isNull(i) {
		return 0, false
	}
	switch c.kind {
	case KindInt, KindBool:
		return float64(c.ints[i]), true
	case KindTime:
		return float64(c.ints[i]) / 1e6, true
	case KindFloat:
		return c.floats[i], true
	case KindString:
		return 0, false
	}
	return Number(c.anys[i])
}

func (t *Table) keep(keep func(i int) bool) {
	n := 0
	for i := range t.n {
		if !keep(i) {
			continue
		}
		if n != i {
			for j := range t.cols {
				t.cols[j].move(i, n)
			}
		}
		n++
	}
	for j := range t.cols {
		t.cols[j].truncate(n)
	}
	t.n = n
}

func (c *column) move(from, to int) {
	switch c.kind {
	case KindInt, KindTime, KindBool:
		c.ints[to] = c.ints[from]
	case KindFloat:
		c.floats[to] = c.floats[from]
	case KindString:
		c.strs[to] = c.strs[from]
	default:
		c.anys[to] = c.anys[from]
	}
	if c.null != nil {
		c.null[to] = c.null[from]
	}
}

func (c *column) truncate(n int) {
	switch c.kind {
	case KindInt, KindTime, KindBool:
		c.ints = c.ints[:n]
	case KindFloat:
		c.floats = c.floats[:n]
	case KindString:
		clear(c.strs[n:])
		c.strs = c.strs[:n]
	default:
		clear(c.anys[n:])
		c.anys = c.anys[:n]
	}
	if c.null != nil {
		c.null = c.null[:n]
	}
}

func (t *Table) sameKinds(o *Table) bool {
	if len(t.cols) != len(o.cols) {
		return false
	}
	for j := range t.cols {
		if t.cols[j].kind != o.cols[j].kind {
			return false
		}
	}
	return true
}

func (t *Table) append(o *Table) {
	for j := range t.cols {
		c, oc := &t.cols[j], &o.cols[j]
		if (c.null != nil || oc.null != nil) && c.null == nil {
			c.null = make([]bool, t.n, t.n+o.n)
		}
		c.ints = append(c.ints, oc.ints...)
		c.floats = append(c.floats, oc.floats...)
		c.strs = append(c.strs, oc.strs...)
		c.anys = append(c.anys, oc.anys...)
		if c.null != nil {
			if oc.null != nil {
				c.null = append(c.null, oc.null...)
			} else {
				c.null = append(c.null, make([]bool, o.n)...)
			}
		}
	}
	t.n += o.n
}
