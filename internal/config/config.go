// Package config reads the exporter's configuration file: the targets to watch and the extra
// query packs. Decoding is strict (an unknown key is an error) and every problem is reported
// as file:line and what is wrong. Secrets are resolved here (from the file, a file or an
// environment variable) and listed by Secrets, so that they can be redacted everywhere.
//
// The package knows no kind of target: each kind's package owns the type its entries of
// targets.<kind> decode into and that type's checks (a TargetKind), and the caller says which
// kinds the file may list. What is common stays here: file:line errors, unique names,
// clusters, the secrets' registry, relative paths, packs, and other packages' sections.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"

	promconfig "github.com/prometheus/common/config"

	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

// Config is the whole file.
type Config struct {
	// Targets are the targets of every kind: the kinds in the order given to Load, each
	// kind's in the order of the file.
	Targets []Target `yaml:"-"`
	// Packs are extra query pack files or directories, added to the embedded defaults.
	Packs []string `yaml:"packs"`

	File    string   `yaml:"-"`
	secrets []string // resolved secrets, for redaction
	doc     *yamlx.Document
}

// TargetKind is a kind of target the file may list, under targets.<Key>.
type TargetKind struct {
	Key string
	// New returns a pointer to a new target of the kind: the list's entries decode, strictly,
	// into values of its type (zero but for the file's keys: Check fills in defaults).
	New func() Target
}

// Target is one configured target. Its type belongs to its kind's package and inlines Base
// (`yaml:",inline"`), which gives it a name and a cluster. A type that holds file paths
// implements prometheus/common's config.DirectorySetter: its relative paths are made
// relative to the configuration file's directory before Check.
type Target interface {
	base() *Base
	// Check reports what is wrong with the decoded target through c, and resolves what it
	// refers to: secrets, files, defaults. It runs after the name was checked.
	Check(c *Check)
}

// Base is what every target has. Inline it in a kind's target type.
type Base struct {
	Name string `yaml:"name"`
	// Cluster names the deployment the target belongs to (the PostgreSQL cluster's name):
	// the advisor reports its findings with that deployment's. PostgreSQL replicas are also
	// grouped with their primary by system identifier.
	Cluster string `yaml:"cluster"`

	kind string
	path []any
}

func (b *Base) base() *Base { return b }

// BaseOf returns the common part of t.
func BaseOf(t Target) *Base { return t.base() }

// Kind is the key of the target's kind (postgres, redis, ...).
func (b *Base) Kind() string { return b.kind }

// Path is where the target is in the file: "targets", its kind, its index.
func (b *Base) Path() []any { return b.path }

// TargetsOf returns the targets of type T, in order: a kind's targets, for its tests.
func TargetsOf[T Target](c *Config) []T {
	var out []T
	for _, t := range c.Targets {
		if t, ok := t.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// ErrorAt is an error about the value at path (e.g. "targets", "postgres", 0, "top_n"), with
// the file and line of that value, for checks that need more than the file itself (the
// query names of the packs).
func (c *Config) ErrorAt(path []any, format string, args ...any) error {
	if c.doc == nil {
		return fmt.Errorf(format, args...)
	}
	return c.doc.Errorf(path, format, args...)
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// Section is a top-level key of the file that another package owns (the advisor's): that
// package's type is what the key decodes into, strictly like the rest of the file, and its
// Check reports what is wrong with the decoded value. The configuration knows neither.
type Section struct {
	Key string
	// Value points to the section's value, holding its defaults; the file's key decodes
	// into it.
	Value any
	// Check reports problems of the decoded value; errorf takes the path below Key.
	Check func(errorf func(path []any, format string, args ...any))
	// Secrets, when set, lists the credentials the decoded value holds, for redaction.
	Secrets func() []string
}

// Load reads and checks a configuration file that lists targets of kinds.
func Load(file string, kinds []TargetKind, sections ...Section) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	return Parse(file, data, kinds, sections...)
}

// Parse decodes and checks configuration text; file names it in errors. The entries of
// targets.<kind> decode into the kinds' types, each section's key into its Value.
func Parse(file string, data []byte, kinds []TargetKind, sections ...Section) (*Config, error) {
	doc, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, err // syntax: nothing more can be read
	}
	// The file parses, so decoding errors are unknown keys and values of the wrong type; the
	// rest of the file is decoded all the same and checked too, so that one run reports every
	// problem. A check's error on a line that has a decoding error, or on the first line of a
	// mapping that holds one ("set one of dsn" for a misspelt dsn), is left out.
	d := newDecoding(kinds, sections)
	decodeErr := doc.DecodeStrict(data, d.out)
	c := d.config(kinds)
	c.File = file
	c.doc = doc
	c.resolvePaths(filepath.Dir(file))
	v := &validator{doc: doc, names: map[string][]any{}, sections: sections, kinds: kinds}
	v.check(c)
	errs := []error{decodeErr}
	bad := map[int]bool{}
	decodeErrs := []error{decodeErr}
	if j, ok := decodeErr.(interface{ Unwrap() []error }); ok {
		decodeErrs = j.Unwrap()
	}
	for _, e := range decodeErrs {
		if ye, ok := e.(*yamlx.Error); ok {
			bad[ye.Line] = true
			for _, l := range doc.EnclosingLines(ye.Line) {
				bad[l] = true
			}
		}
	}
	for _, e := range v.errs {
		if ye, ok := e.(*yamlx.Error); ok && bad[ye.Line] {
			continue
		}
		errs = append(errs, e)
	}
	if err := yamlx.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// decoding is what the file decodes into: a struct that inlines the Config, has a targets
// struct with one list per kind, and one field per section, pointing to the section's Value,
// so that one strict decoding reads them all (an unknown key anywhere is an error, with a
// suggestion).
type decoding struct {
	out     any
	root    reflect.Value // the struct out points to
	targets reflect.Value // its targets struct
}

func newDecoding(kinds []TargetKind, sections []Section) *decoding {
	lists := make([]reflect.StructField, len(kinds))
	for i, k := range kinds {
		lists[i] = reflect.StructField{
			Name: fmt.Sprintf("Kind%d", i), Type: reflect.SliceOf(reflect.TypeOf(k.New())), Tag: yamlTag(k.Key),
		}
	}
	fields := []reflect.StructField{
		{Name: "Config", Type: reflect.TypeFor[Config](), Tag: `yaml:",inline"`},
		{Name: "Targets", Type: reflect.StructOf(lists), Tag: yamlTag("targets")},
	}
	for i, s := range sections {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Section%d", i), Type: reflect.TypeOf(s.Value), Tag: yamlTag(s.Key),
		})
	}
	out := reflect.New(reflect.StructOf(fields))
	for i, s := range sections {
		out.Elem().Field(i + 2).Set(reflect.ValueOf(s.Value))
	}
	return &decoding{out: out.Interface(), root: out.Elem(), targets: out.Elem().Field(1)}
}

func yamlTag(key string) reflect.StructTag { return reflect.StructTag(fmt.Sprintf("yaml:%q", key)) }

// config returns the decoded Config with its targets, each knowing its kind and place.
func (d *decoding) config(kinds []TargetKind) *Config {
	c := d.root.Field(0).Addr().Interface().(*Config)
	for i, k := range kinds {
		list := d.targets.Field(i)
		for j := range list.Len() {
			if list.Index(j).IsNil() {
				continue // an empty entry ("-"): nothing to check or build
			}
			t := list.Index(j).Interface().(Target)
			b := t.base()
			b.kind, b.path = k.Key, []any{"targets", k.Key, j}
			c.Targets = append(c.Targets, t)
		}
	}
	return c
}

// resolvePaths makes the relative file paths of the configuration relative to the file's own
// directory, as Prometheus does, not to the exporter's working directory (systemd starts
// services in /).
func (c *Config) resolvePaths(dir string) {
	for i := range c.Packs {
		c.Packs[i] = promconfig.JoinDir(dir, c.Packs[i])
	}
	for _, t := range c.Targets {
		if d, ok := t.(promconfig.DirectorySetter); ok {
			d.SetDirectory(dir)
		}
	}
}

// Secrets returns every secret the configuration holds: DSN passwords, Redis passwords,
// Elasticsearch passwords and API keys, and those of the sections.
func (c *Config) Secrets() []string { return c.secrets }

type validator struct {
	doc      *yamlx.Document
	errs     []error
	names    map[string][]any // target name -> path of its first use
	c        *Config
	kinds    []TargetKind
	sections []Section
}

func (v *validator) errorf(path []any, format string, args ...any) {
	v.errs = append(v.errs, v.doc.Errorf(path, format, args...))
}

func (v *validator) check(c *Config) {
	v.c = c
	if len(c.Targets) == 0 {
		v.errorf([]any{"targets"}, "no targets: add at least one under %s", v.kindList())
	}
	for _, t := range c.Targets {
		b := t.base()
		v.name(b.path, b.kind, b.Name)
		t.Check(&Check{v: v, base: b})
	}
	for _, s := range v.sections {
		s.Check(func(path []any, format string, args ...any) {
			v.errorf(append([]any{s.Key}, path...), format, args...)
		})
		if s.Secrets != nil {
			c.secrets = append(c.secrets, s.Secrets()...)
		}
	}
	for i, p := range c.Packs {
		if _, err := os.Stat(p); err != nil {
			v.errorf([]any{"packs", i}, "pack path %q: %s", p, osReason(err))
		}
	}
}

// kindList names the lists of targets for people: targets.postgres, .redis or .pgbackrest.
func (v *validator) kindList() string {
	keys := make([]string, len(v.kinds))
	for i, k := range v.kinds {
		keys[i] = "." + k.Key
	}
	if len(keys) == 0 {
		return "targets (no kind of target is known)"
	}
	keys[0] = "targets" + keys[0]
	if len(keys) == 1 {
		return keys[0]
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " or " + keys[len(keys)-1]
}

func at(path []any, key ...any) []any { return append(append([]any{}, path...), key...) }

func (v *validator) name(path []any, kind, name string) {
	switch {
	case name == "":
		v.errorf(path, "a %s target needs a name", kind)
		return
	case !nameRe.MatchString(name):
		v.errorf(at(path, "name"), "target name %q: use letters, digits, and _ . : - (not first)", name)
	}
	if prev, ok := v.names[name]; ok {
		v.errorf(at(path, "name"), "target name %q is already used at line %d", name, v.doc.Line(prev...))
		return
	}
	v.names[name] = at(path, "name")
}

// osReason is what went wrong with a file, without its path (messages name it themselves).
func osReason(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file or directory"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
