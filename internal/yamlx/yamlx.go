// Package yamlx decodes YAML strictly and reports every problem as "file:line: what is wrong".
//
// yaml.v3 can reject unknown keys (Decoder.KnownFields) but its messages name Go types and
// carry no file name; a custom UnmarshalYAML would lose the strictness. So decoding is done in
// two passes over the same bytes: a strict typed decode, and a node tree that validation code
// uses to find the line of any path (Line).
package yamlx

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem at one place in a file.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errorf makes an Error.
func Errorf(file string, line int, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Join joins errors like errors.Join, with the *Error ones in file and line order, so that a
// reader meets them in the order of the file.
func Join(errs ...error) error {
	var list []error
	for _, e := range errs {
		if e == nil {
			continue
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			list = append(list, j.Unwrap()...)
		} else {
			list = append(list, e)
		}
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, aok := list[i].(*Error)
		b, bok := list[j].(*Error)
		if !aok || !bok {
			return false
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return errors.Join(list...)
}

// Document is a parsed file: its name and node tree, for line look-ups.
type Document struct {
	File string
	Root *yaml.Node // the top-level value (mapping, sequence, ...); nil for an empty file
}

// Parse parses data into a node tree. Syntax errors come back as *Error.
func Parse(file string, data []byte) (*Document, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, convert(file, nil, nil, err)
	}
	d := &Document{File: file}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		d.Root = doc.Content[0]
	}
	return d, nil
}

// DecodeStrict decodes data into out, rejecting unknown and duplicate keys and values of the
// wrong type. All problems are returned (errors.Join of *Error), each with its line.
func DecodeStrict(file string, data []byte, out any) error {
	doc, err := Parse(file, data)
	if err != nil {
		return err
	}
	return doc.DecodeStrict(data, out)
}

// DecodeStrict is DecodeStrict for a file already parsed into d (data are its bytes), so that
// callers holding the node tree do not parse the file twice.
func (d *Document) DecodeStrict(data []byte, out any) error {
	if d.Root == nil {
		return Errorf(d.File, 0, "the file is empty")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return convert(d.File, d.Root, reflect.TypeOf(out), err)
	}
	return nil
}

var (
	lineRe      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownRe   = regexp.MustCompile(`^field (.+?) not found in type .+$`)
	unmarshalRe = regexp.MustCompile("^cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// convert turns a yaml.v3 error into *Error values; t, the type decoded into, lets an unknown
// key come with the known key it most likely misspells.
func convert(file string, root *yaml.Node, t reflect.Type, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, msg := range te.Errors {
			errs = append(errs, convertOne(file, root, t, msg))
		}
		return errors.Join(errs...)
	}
	return convertOne(file, root, t, err.Error())
}

func convertOne(file string, root *yaml.Node, t reflect.Type, msg string) *Error {
	m := lineRe.FindStringSubmatch(msg)
	if m == nil {
		return Errorf(file, 0, "%s", strings.TrimPrefix(msg, "yaml: "))
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := unknownRe.FindStringSubmatch(text); u != nil {
		where := PathAt(root, line, u[1])
		hint := ""
		if f, e := fromFile(t, where, u[1]); f != "" {
			hint = fmt.Sprintf(" (it is read from a file or the environment: %s or %s)", f, e)
		} else if s := suggest(t, where, u[1]); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		if where != "" {
			return Errorf(file, line, "unknown key %q in %s%s", u[1], where, hint)
		}
		return Errorf(file, line, "unknown key %q%s", u[1], hint)
	}
	if u := unmarshalRe.FindStringSubmatch(text); u != nil {
		msg := describeTypeMismatch(u[1], u[2], u[3])
		if key := valuePathAt(root, line, u[2]); key != "" {
			msg = key + ": " + msg // two keys on one line (a flow mapping) need telling apart
		}
		return Errorf(file, line, "%s", msg)
	}
	return Errorf(file, line, "%s", text)
}

func describeTypeMismatch(tag, value, goType string) string {
	want := goType
	switch {
	case goType == "time.Duration":
		want = "a duration such as 30s or 5m"
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		want = "an integer"
	case strings.HasPrefix(goType, "float"):
		want = "a number"
	case goType == "bool":
		want = "true or false"
	case goType == "string":
		want = "a string"
	case strings.HasPrefix(goType, "[]"):
		want = "a list"
	case strings.HasPrefix(goType, "map[") || strings.Contains(goType, "."):
		want = "a mapping"
	}
	got := map[string]string{"seq": "a list", "map": "a mapping", "str": "a string", "int": "an integer",
		"float": "a number", "bool": "a boolean", "null": "nothing"}[tag]
	if got == "" {
		got = tag
	}
	if value != "" {
		return fmt.Sprintf("invalid value %q: want %s", value, want)
	}
	return fmt.Sprintf("found %s, want %s", got, want)
}

// PathAt returns the dotted path (e.g. targets.postgres[0]) of the mapping that holds key at line,
// or "" when it is not found.
func PathAt(root *yaml.Node, line int, key string) string {
	var found string
	var walk func(n *yaml.Node, path string) bool
	walk = func(n *yaml.Node, path string) bool {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Line == line && k.Value == key {
					found = path
					if found == "" {
						found = "the top level"
					}
					return true
				}
				if walk(v, join(path, k.Value)) {
					return true
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if walk(c, fmt.Sprintf("%s[%d]", path, i)) {
					return true
				}
			}
		}
		return false
	}
	if root != nil {
		walk(root, "")
	}
	return found
}

// valuePathAt is the path of the scalar value written on line, or "" when there is none or
// more than one.
func valuePathAt(root *yaml.Node, line int, value string) string {
	var found []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && v.Line == line && v.Value == value {
					found = append(found, join(path, k.Value))
				}
				walk(v, join(path, k.Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if c.Kind == yaml.ScalarNode && c.Line == line && c.Value == value {
					found = append(found, p)
				}
				walk(c, p)
			}
		}
	}
	if root != nil {
		walk(root, "")
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// EnclosingLines are the lines where the mappings that hold something on line begin (a
// target's "- name: ..." line holds its keys), innermost last.
func (d *Document) EnclosingLines(line int) []int {
	var out []int
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n.Line == line && n.Kind == yaml.ScalarNode {
			return true
		}
		for _, c := range n.Content {
			if walk(c) {
				if n.Kind == yaml.MappingNode && n.Line != line {
					out = append(out, n.Line)
				}
				return true
			}
		}
		return false
	}
	if d.Root != nil {
		walk(d.Root)
	}
	slices.Reverse(out)
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Line returns the line of the node at path (mapping keys as strings, sequence indexes as
// ints). When the path does not exist completely, the line of the deepest node found is
// returned, so that an error about a missing key points at its parent.
func (d *Document) Line(path ...any) int {
	_, line := d.lookup(path)
	return line
}

// Node returns the node at path, or nil.
func (d *Document) Node(path ...any) *yaml.Node {
	n, _ := d.lookup(path)
	return n
}

// lookup walks path from the root. It returns the node (nil when the path does not exist) and
// the line of the deepest part found; for a mapping value that is the line of its key.
func (d *Document) lookup(path []any) (*yaml.Node, int) {
	n := d.Root
	if n == nil {
		return nil, 0
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next, line = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return nil, line
		}
		n = next
	}
	return n, line
}

// Errorf makes an *Error at the line of path in this document.
func (d *Document) Errorf(path []any, format string, args ...any) *Error {
	return Errorf(d.File, d.Line(path...), format, args...)
}
