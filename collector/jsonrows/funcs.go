package jsonrows

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/persistence-exporter/persistence_exporter/internal/units"
)

// apply runs one function of an expression on a value. A function that cannot read its input
// returns nil: no sample, or an empty label.
func apply(f Func, v any, e Env) any {
	switch f.Name {
	case "ratio":
		return ratio(v)
	case "bytes":
		return byteSize(v)
	case "seconds":
		return seconds(v)
	case "since":
		return since(v, f.Arg, e.Now)
	case "wal":
		return walPosition(v)
	case "count":
		switch t := v.(type) {
		case map[string]any:
			return int64(len(t))
		case []any:
			return int64(len(t))
		}
		return nil
	case "fields":
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		return int64(mappedFields(m))
	case "exists":
		return v != nil
	case "empty":
		switch t := v.(type) {
		case nil:
			return true
		case map[string]any:
			return len(t) == 0
		case []any:
			return len(t) == 0
		case string:
			return t == ""
		}
		return false
	case "not":
		if b, ok := v.(bool); ok {
			return !b
		}
		return nil
	case "join":
		list, ok := v.([]any)
		if !ok {
			return nil
		}
		parts := make([]string, 0, len(list))
		for _, x := range list {
			if s, ok := text(x); ok {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ",")
	case "contains", "prefix":
		match := func(s string) bool { return s == f.Arg }
		if f.Name == "prefix" {
			match = func(s string) bool { return strings.HasPrefix(s, f.Arg) }
		}
		if list, ok := v.([]any); ok {
			return slices.ContainsFunc(list, func(x any) bool {
				s, ok := text(x)
				return ok && match(s)
			})
		}
		if v == nil {
			return false
		}
		s, ok := text(v)
		return ok && match(s)
	case "eq", "ne":
		s, ok := text(v)
		return ok && (s == f.Arg) == (f.Name == "eq")
	case "in":
		s, ok := text(v)
		return ok && slices.Contains(f.Args, s)
	case "default":
		if v == nil {
			return f.Arg
		}
		return v
	case "get":
		r, ok := Lookup(v, f.Path)
		if !ok {
			return nil
		}
		return r
	case "map":
		s, ok := text(v)
		if !ok {
			return nil
		}
		if to, ok := f.Pairs[s]; ok {
			return to
		}
		return nil
	case "datetime":
		return datetime(v, f.Arg)
	case "truncate":
		s, ok := v.(string)
		if !ok || utf8.RuneCountInString(s) <= f.N {
			return v
		}
		return string([]rune(s)[:f.N])
	}
	return nil
}

// ratio reads a disk watermark or breaker limit given as a percentage ("85%") or a ratio
// ("0.85"). A byte size ("10gb") is not a ratio: nil.
func ratio(v any) any {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		if p, found := strings.CutSuffix(s, "%"); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f < 0 || f > 100 {
				return nil
			}
			return f / 100
		}
	}
	f, ok := number(v)
	if !ok || f < 0 || f > 1 {
		return nil
	}
	return f
}

// divide is a / b for two numbers (or strings holding them); nil when either is missing or b
// is 0.
func divide(a, b any) any {
	x, ok1 := number(a)
	y, ok2 := number(b)
	if !ok1 || !ok2 || y == 0 {
		return nil
	}
	return x / y
}

// subtract is a - b for two numbers (or strings holding them); nil when either is missing.
func subtract(a, b any) any {
	x, ok1 := number(a)
	y, ok2 := number(b)
	if !ok1 || !ok2 {
		return nil
	}
	return x - y
}

// datetimeLayout is how datetime writes a time: pgbackrest_exporter's start_time and
// stop_time labels.
const datetimeLayout = "2006-01-02 15:04:05"

// datetime writes an epoch timestamp in unit ("ms" or "s") as a UTC date and time, for a
// label.
func datetime(v any, unit string) any {
	f, ok := number(v)
	if !ok || math.IsInf(f, 0) {
		return nil
	}
	if unit == "ms" {
		f /= 1000
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC().Format(datetimeLayout)
}

// withUnit reads "1.5gb" or "30s" by units: the number times the unit, or false when no
// unit fits or the number is negative or not one.
func withUnit(s string, table []units.Unit) (float64, bool) {
	f, ok := units.Parse(s, table)
	return f, ok && f >= 0
}

// nonNegative is a number as a float64; a negative one (-1 is "not set" in Elasticsearch) and
// what is not a number are nil.
func nonNegative(v any) any {
	if f, ok := number(v); ok && f >= 0 {
		return f
	}
	return nil
}

// byteSize reads "10gb", "512mb", "1.5tb" (any case) as bytes. A percentage or ratio is not a
// byte size, and -1 means "not set": both nil.
func byteSize(v any) any {
	s, ok := v.(string)
	if !ok {
		return nonNegative(v)
	}
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "0" {
		return float64(0)
	}
	if f, ok := withUnit(s, units.ElasticsearchBytes); ok {
		return math.Round(f)
	}
	return nil
}

// seconds reads an Elasticsearch time value ("7.5d", "30s", "150ms") as seconds; a bare
// number is taken as seconds already; -1 ("never") is nil.
func seconds(v any) any {
	s, ok := v.(string)
	if !ok {
		return nonNegative(v)
	}
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return nil
		}
		return f
	}
	if f, ok := withUnit(s, units.ElasticsearchTime); ok {
		return f
	}
	return nil
}

// since is the age in seconds, at now, of an epoch timestamp in unit ("ms" or "s") or of an
// RFC 3339 date.
func since(v any, unit string, now time.Time) any {
	if s, ok := v.(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			return now.Sub(t).Seconds()
		}
	}
	f, ok := number(v)
	if !ok {
		return nil
	}
	if unit == "ms" {
		f /= 1000
	}
	return float64(now.UnixNano())/1e9 - f
}

// mappedFields counts the fields of a mapping the way Elasticsearch counts them against
// index.mapping.total_fields.limit: every field and object under properties (recursively),
// every multi-field, and every runtime field. Field aliases are fields of type alias, so they
// count too.
func mappedFields(m map[string]any) int {
	n := 0
	for _, key := range []string{"properties", "fields"} {
		children, _ := m[key].(map[string]any)
		for _, c := range children {
			n++
			if cm, ok := c.(map[string]any); ok {
				n += mappedFields(cm)
			}
		}
	}
	if rt, ok := m["runtime"].(map[string]any); ok {
		n += len(rt)
	}
	return n
}

// walSegmentSize is the WAL segment size assumed by wal: PostgreSQL's default, which
// pgbackrest info does not report.
const walSegmentSize = 16 << 20

// walPosition turns a WAL file name (timeline, log and segment, 8 hex digits each, e.g.
// 000000010000000A00000042) into its position in bytes, as pg_wal_lsn_diff counts them, for
// 16 MiB segments. The timeline is left out: positions continue across timelines.
func walPosition(v any) any {
	s, ok := v.(string)
	if !ok || len(s) != 24 {
		return nil
	}
	logNo, err1 := strconv.ParseUint(s[8:16], 16, 32)
	seg, err2 := strconv.ParseUint(s[16:24], 16, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	return float64(logNo)*(1<<32) + float64(seg)*walSegmentSize
}
