package redis

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// table builds Rows from rows given as maps, keeping columns in order of first appearance.
// A row that lacks a column holds nil there.
type table struct {
	cols []string
	idx  map[string]int
	rows []map[string]any
}

// newTable starts a table whose first columns are cols, in that order.
func newTable(cols ...string) *table {
	t := &table{idx: map[string]int{}}
	for _, c := range cols {
		t.col(c)
	}
	return t
}

func (t *table) col(name string) {
	if _, ok := t.idx[name]; !ok {
		t.idx[name] = len(t.cols)
		t.cols = append(t.cols, name)
	}
}

func (t *table) add(row map[string]any, order ...string) {
	for _, c := range order {
		if _, ok := row[c]; ok {
			t.col(c)
		}
	}
	keys := make([]string, 0, len(row))
	for c := range row {
		if _, ok := t.idx[c]; !ok {
			keys = append(keys, c)
		}
	}
	slices.Sort(keys)
	for _, c := range keys {
		t.col(c)
	}
	t.rows = append(t.rows, row)
}

func (t *table) build() *queries.Rows {
	out := &queries.Rows{Columns: slices.Clone(t.cols), Values: make([][]any, len(t.rows))}
	for i, r := range t.rows {
		vals := make([]any, len(t.cols))
		for c, v := range r {
			vals[t.idx[c]] = v
		}
		out.Values[i] = vals
	}
	return out
}

// columnName is the column a Redis name becomes: "-" turned into "_", with the prefix.
func columnName(prefix, name string) string {
	return prefix + strings.ReplaceAll(name, "-", "_")
}

// infoRows is an INFO reply as one row, one column per field.
func infoRows(in Info, r *Redis) *queries.Rows {
	t := newTable()
	row := make(map[string]any, len(in))
	order := make([]string, 0, len(in))
	for _, f := range in {
		c := columnName(r.ColumnPrefix, f.Name)
		if _, dup := row[c]; dup {
			continue
		}
		row[c] = f.Value
		order = append(order, c)
	}
	t.add(row, order...)
	return t.build()
}

// infoKeyedRows is one row per INFO field that r.Match selects, its compound value split into
// columns (or, with Pivot, one row per k=v part).
func infoKeyedRows(in Info, r *Redis) *queries.Rows {
	t := newTable()
	re := r.MatchRe()
	for _, f := range in {
		m := re.FindStringSubmatch(f.Name)
		if m == nil {
			continue
		}
		key := m[0]
		if len(m) > 1 {
			key = m[1]
		}
		kvs := ParseCompound(f.Value)
		if r.Pivot != "" {
			for _, kv := range kvs {
				row := map[string]any{r.Pivot: kv.Key, columnName(r.ColumnPrefix, "value"): kv.Value}
				if r.Key != "" {
					row[r.Key] = key
				}
				t.add(row, r.Key, r.Pivot)
			}
			continue
		}
		row := make(map[string]any, len(kvs)+1)
		order := []string{r.Key}
		if r.Key != "" {
			row[r.Key] = key
		}
		for _, kv := range kvs {
			name := kv.Key
			if name == "" {
				name = "value"
			}
			c := columnName(r.ColumnPrefix, name)
			row[c] = kv.Value
			order = append(order, c)
		}
		t.add(row, order...)
	}
	return t.build()
}

// scalar turns a reply element into a row value: strings and integers as they are, other
// scalars as text. ok is false for a nested value.
func scalar(v any) (any, bool) {
	switch v := v.(type) {
	case nil, string, int64, float64, bool:
		return v, true
	case int:
		return int64(v), true
	case []byte:
		return string(v), true
	case []any:
		return nil, false
	case error:
		return v.Error(), true
	}
	return fmt.Sprint(v), true
}

// pairs reads a flat list of names and values (RESP2, which the source speaks), in reply
// order. Nested values are skipped.
func pairs(v any) ([]KV, []any, error) {
	var keys []KV
	var vals []any
	switch v := v.(type) {
	case []any:
		if len(v)%2 != 0 {
			return nil, nil, fmt.Errorf("a list of %d elements is not name/value pairs", len(v))
		}
		for i := 0; i < len(v); i += 2 {
			name, ok := scalar(v[i])
			val, ok2 := scalar(v[i+1])
			if !ok || !ok2 {
				continue
			}
			keys = append(keys, KV{Key: fmt.Sprint(name)})
			vals = append(vals, val)
		}
	case nil:
	default:
		return nil, nil, fmt.Errorf("want name/value pairs, got %T", v)
	}
	return keys, vals, nil
}

// sensitiveParameter reports whether a CONFIG parameter holds a credential: requirepass,
// masterauth, masteruser, and anything whose name says pass or secret (tls-key-file-pass,
// tls-client-key-file-pass, ...). CONFIG GET "*", which the pack sends to servers before 7.0,
// returns them all.
func sensitiveParameter(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "requirepass", "masterauth", "masteruser":
		return true
	}
	return strings.Contains(n, "pass") || strings.Contains(n, "secret")
}

// pairsRows is a name/value reply (CONFIG GET) as one row. Credentials are dropped here, so
// that they never reach the rows, the results store or a log line: a query that maps one
// fails for the lack of the column.
func pairsRows(v any, r *Redis) (*queries.Rows, error) {
	keys, vals, err := pairs(v)
	if err != nil {
		return nil, err
	}
	t := newTable()
	row := make(map[string]any, len(keys))
	order := make([]string, 0, len(keys))
	for i, k := range keys {
		if sensitiveParameter(k.Key) {
			continue
		}
		c := columnName(r.ColumnPrefix, k.Key)
		row[c] = vals[i]
		order = append(order, c)
	}
	t.add(row, order...)
	return t.build(), nil
}

// mapsRows is a list of maps (SENTINEL MASTERS, REPLICAS, SENTINELS) as one row per map.
func mapsRows(v any, r *Redis, extra map[string]any) (*table, error) {
	list, ok := v.([]any)
	if !ok && v != nil {
		return nil, fmt.Errorf("want a list of maps, got %T", v)
	}
	t := newTable()
	for _, item := range list {
		keys, vals, err := pairs(item)
		if err != nil {
			return nil, err
		}
		row := make(map[string]any, len(keys)+len(extra)+len(r.Flags)+1)
		order := make([]string, 0, len(keys)+len(extra))
		for k, x := range extra {
			row[k] = x
			order = append(order, k)
		}
		slices.Sort(order)
		var ip, port string
		for i, k := range keys {
			c := columnName(r.ColumnPrefix, k.Key)
			row[c] = vals[i]
			order = append(order, c)
			switch k.Key {
			case "ip":
				ip = fmt.Sprint(vals[i])
			case "port":
				port = fmt.Sprint(vals[i])
			case "flags":
				set := strings.Split(fmt.Sprint(vals[i]), ",")
				for _, f := range r.Flags {
					row[columnName(r.ColumnPrefix, f)] = b2i(slices.Contains(set, f) || slices.Contains(set, strings.ReplaceAll(f, "_", "-")))
				}
			}
		}
		if ip != "" && port != "" {
			c := columnName(r.ColumnPrefix, "address")
			if _, taken := row[c]; !taken {
				row[c] = joinHostPort(ip, port)
				order = append(order, c)
			}
		}
		for _, f := range r.Flags {
			c := columnName(r.ColumnPrefix, f)
			if _, ok := row[c]; !ok {
				row[c] = int64(0) // no flags field at all: none of them is set
			}
			order = append(order, c)
		}
		t.add(row, order...)
	}
	for _, f := range r.Flags {
		t.col(columnName(r.ColumnPrefix, f))
	}
	return t, nil
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// slowlogRows is SLOWLOG GET as one row per entry, newest first. Only the command name is
// read from the arguments: the rest may hold keys and values that are nobody's business.
func slowlogRows(v any) (*queries.Rows, error) {
	t := newTable("position", "id", "timestamp", "duration_usec", "cmd")
	err := eachEntry(v, "SLOWLOG GET", "entry %d is not [id, time, duration, args, ...]", func(i int, entry []any) error {
		id, ok1 := toInt(entry[0])
		ts, ok2 := toInt(entry[1])
		dur, ok3 := toInt(entry[2])
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("SLOWLOG GET: entry %d has a non-integer id, time or duration", i)
		}
		cmd := ""
		if args, ok := entry[3].([]any); ok && len(args) > 0 {
			cmd = strings.ToLower(fmt.Sprint(args[0]))
		}
		t.add(map[string]any{"position": int64(i), "id": id, "timestamp": ts, "duration_usec": dur, "cmd": cmd})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t.build(), nil
}

// latencyRows is LATENCY LATEST as one row per event.
func latencyRows(v any) (*queries.Rows, error) {
	t := newTable("event_name", "timestamp", "latest_ms", "max_ms")
	err := eachEntry(v, "LATENCY LATEST", "event %d is not [name, time, latest, max]", func(i int, ev []any) error {
		name, _ := scalar(ev[0])
		ts, ok1 := toInt(ev[1])
		latest, ok2 := toInt(ev[2])
		maxMS, ok3 := toInt(ev[3])
		if !ok1 || !ok2 || !ok3 {
			return fmt.Errorf("LATENCY LATEST: event %d has a non-integer field", i)
		}
		t.add(map[string]any{"event_name": fmt.Sprint(name), "timestamp": ts, "latest_ms": latest, "max_ms": maxMS})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t.build(), nil
}

// eachEntry calls row with each element of the reply v of command cmd (SLOWLOG GET, LATENCY
// LATEST): a list whose elements are lists of at least four values; notEntry says, for its
// index, what an element is not when it is not such a list.
func eachEntry(v any, cmd, notEntry string, row func(i int, entry []any) error) error {
	list, ok := v.([]any)
	if !ok && v != nil {
		return fmt.Errorf("%s: want a list, got %T", cmd, v)
	}
	for i, e := range list {
		entry, ok := e.([]any)
		if !ok || len(entry) < 4 {
			return fmt.Errorf(cmd+": "+notEntry, i)
		}
		if err := row(i, entry); err != nil {
			return err
		}
	}
	return nil
}

// valueRows is a single value as one row with the column value.
func valueRows(v any, r *Redis) (*queries.Rows, error) {
	s, ok := scalar(v)
	if !ok {
		return nil, fmt.Errorf("want a single value, got a %T", v)
	}
	return &queries.Rows{Columns: []string{columnName(r.ColumnPrefix, "value")}, Values: [][]any{{s}}}, nil
}

// statusRows turns a reply whose error is an answer (SENTINEL CKQUORUM) into ok and message.
func statusRows(v any, err error, r *Redis) *queries.Rows {
	ok, msg := int64(1), fmt.Sprint(v)
	if err != nil {
		ok, msg = 0, err.Error()
	}
	return &queries.Rows{Columns: []string{columnName(r.ColumnPrefix, "ok"), columnName(r.ColumnPrefix, "message")}, Values: [][]any{{ok, msg}}}
}

// finish applies what the body adds to any reply: optional columns, constants, copies and
// the row limit.
func finish(rows *queries.Rows, r *Redis) (*queries.Rows, error) {
	if r.Limit > 0 && len(rows.Values) > r.Limit {
		rows.Values = rows.Values[:r.Limit]
	}
	has := func(c string) int { return slices.Index(rows.Columns, c) }
	addCol := func(name string, val func(row []any) any) {
		rows.Columns = append(rows.Columns, name)
		for i, row := range rows.Values {
			rows.Values[i] = append(row, val(row))
		}
	}
	for _, c := range r.Optional {
		if has(c) < 0 {
			addCol(c, func([]any) any { return nil })
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Constants)) {
		if has(k) >= 0 {
			return nil, fmt.Errorf("constant %q: the reply already has that column", k)
		}
		v, _ := scalar(r.Constants[k])
		addCol(k, func([]any) any { return v })
	}
	for _, k := range slices.Sorted(maps.Keys(r.Copy)) {
		if has(k) >= 0 {
			return nil, fmt.Errorf("copy %q: the reply already has that column", k)
		}
		from := has(r.Copy[k])
		if from < 0 {
			if slices.Contains(r.Optional, r.Copy[k]) {
				addCol(k, func([]any) any { return nil })
				continue
			}
			return nil, fmt.Errorf("copy %q: the reply has no column %q to copy", k, r.Copy[k])
		}
		addCol(k, func(row []any) any { return row[from] })
	}
	return rows, nil
}

// isRedisError reports whether err is an error reply of the server (as opposed to a network
// or timeout error).
func isRedisError(err error) bool {
	var re interface{ RedisError() }
	return errors.As(err, &re)
}
