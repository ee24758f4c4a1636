package yamlx

import (
	"reflect"
	"regexp"
	"slices"
	"strings"
)

var indexRe = regexp.MustCompile(`\[\d+\]`)

// suggest returns the key of the struct found at path (as PathAt writes it) in t that key
// most likely misspells, or "" when none is close or the path leads to no struct.
func suggest(t reflect.Type, path, key string) string {
	if t = typeAt(t, path); t == nil {
		return ""
	}
	return Closest(key, keys(t))
}

// Closest returns the word of words that key most likely misspells (at most two edits, or
// the same but for case and underscores), or "" when none is close.
func Closest(key string, words []string) string {
	best, bestDist := "", 3 // at most two edits
	for _, k := range words {
		if strings.EqualFold(strings.ReplaceAll(k, "_", ""), strings.ReplaceAll(key, "_", "")) {
			return k // maxConnections, MAX_CONNECTIONS
		}
		if d := distance(k, key); d < bestDist && d < len(k) {
			best, bestDist = k, d
		}
	}
	return best
}

// fromFile returns "K_file" and "K_env" when the struct at path takes key that way only
// (password: password_file or password_env), else "", "".
func fromFile(t reflect.Type, path, key string) (string, string) {
	if t = typeAt(t, path); t == nil {
		return "", ""
	}
	ks := keys(t)
	if slices.Contains(ks, key+"_file") && slices.Contains(ks, key+"_env") {
		return key + "_file", key + "_env"
	}
	return "", ""
}

// typeAt is the type at path (as PathAt writes it) in t, or nil.
func typeAt(t reflect.Type, path string) reflect.Type {
	if t == nil || path == "the top level" {
		return t
	}
	for _, seg := range strings.Split(indexRe.ReplaceAllString(path, ""), ".") {
		if t = field(t, seg); t == nil {
			return nil
		}
	}
	return t
}

// elem strips pointers, slices and arrays (a path's [n] was removed) down to the type a YAML
// key of the path leads to.
func elem(t reflect.Type) reflect.Type {
	for {
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			t = t.Elem()
		default:
			return t
		}
	}
}

// yamlName is the key of a struct field as yaml.v3 names it, and whether the field is inlined.
func yamlName(f reflect.StructField) (name string, inline bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, strings.Contains(","+opts+",", ",inline,")
}

// field is the type under key in struct type t (after elem), or nil.
func field(t reflect.Type, key string) reflect.Type {
	t = elem(t)
	if t.Kind() == reflect.Map {
		return t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, inline := yamlName(f)
		if inline {
			if ft := field(f.Type, key); ft != nil {
				return ft
			}
			continue
		}
		if name == key {
			return f.Type
		}
	}
	return nil
}

// keys lists the keys struct type t (after elem) accepts.
func keys(t reflect.Type) []string {
	t = elem(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, inline := yamlName(f)
		switch {
		case inline:
			out = append(out, keys(f.Type)...)
		case name != "-":
			out = append(out, name)
		}
	}
	return out
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
