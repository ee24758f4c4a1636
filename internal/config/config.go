// Package config reads the exporter's configuration file: the targets to watch and the extra
// query packs. Decoding is strict (an unknown key is an error) and every problem is reported
// as file:line and what is wrong. Secrets are resolved here (from the file, a file or an
// environment variable) and listed by Secrets, so that they can be redacted everywhere.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

// Config is the whole file.
type Config struct {
	Targets Targets `yaml:"targets"`
	// Packs are extra query pack files or directories, added to the embedded defaults.
	Packs []string `yaml:"packs"`

	File    string   `yaml:"-"`
	secrets []string // resolved secrets, for redaction
	doc     *yamlx.Document
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

// Targets groups the targets by kind.
type Targets struct {
	Postgres      []*Postgres      `yaml:"postgres"`
	Redis         []*Redis         `yaml:"redis"`
	Elasticsearch []*Elasticsearch `yaml:"elasticsearch"`
	Pgbackrest    []*Pgbackrest    `yaml:"pgbackrest"`
	Pgbouncer     []*Pgbouncer     `yaml:"pgbouncer"`
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

// Load reads and checks a configuration file.
func Load(file string, sections ...Section) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	return Parse(file, data, sections...)
}

// Parse decodes and checks configuration text; file names it in errors. Each section's key
// decodes into its Value.
func Parse(file string, data []byte, sections ...Section) (*Config, error) {
	doc, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, err // syntax: nothing more can be read
	}
	// The file parses, so decoding errors are unknown keys and values of the wrong type; the
	// rest of the file is decoded all the same and checked too, so that one run reports every
	// problem. A check's error on a line that has a decoding error, or on the first line of a
	// mapping that holds one ("set one of dsn" for a misspelt dsn), is left out.
	c, out := withSections(sections)
	c.File = file
	decodeErr := doc.DecodeStrict(data, out)
	c.doc = doc
	c.resolvePaths(filepath.Dir(file))
	v := &validator{doc: doc, names: map[string][]any{}, sections: sections}
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

// withSections returns a new Config and what the file decodes into: a struct that inlines
// the Config and has one field per section, pointing to the section's Value, so that one
// strict decoding reads them all (an unknown key anywhere is an error, with a suggestion).
func withSections(sections []Section) (*Config, any) {
	fields := []reflect.StructField{{Name: "Config", Type: reflect.TypeFor[Config](), Tag: `yaml:",inline"`}}
	for i, s := range sections {
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("Section%d", i), Type: reflect.TypeOf(s.Value), Tag: reflect.StructTag(fmt.Sprintf("yaml:%q", s.Key)),
		})
	}
	out := reflect.New(reflect.StructOf(fields))
	for i, s := range sections {
		out.Elem().Field(i + 1).Set(reflect.ValueOf(s.Value))
	}
	return out.Elem().Field(0).Addr().Interface().(*Config), out.Interface()
}

// resolvePaths makes the relative file paths of the configuration relative to the file's own
// directory, as Prometheus does, not to the exporter's working directory (systemd starts
// services in /).
func (c *Config) resolvePaths(dir string) {
	abs := func(ps ...*string) {
		for _, p := range ps {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	for i := range c.Packs {
		abs(&c.Packs[i])
	}
	for _, p := range c.Targets.Postgres {
		abs(&p.DSNFile)
	}
	for _, p := range c.Targets.Pgbouncer {
		abs(&p.DSNFile)
	}
	for _, e := range c.Targets.Elasticsearch {
		abs(&e.PasswordFile, &e.APIKeyFile, &e.CAFile)
	}
	for _, r := range c.Targets.Redis {
		abs(&r.PasswordFile, &r.SentinelPasswordFile)
		if r.TLS != nil {
			abs(&r.TLS.CAFile, &r.TLS.CertFile, &r.TLS.KeyFile)
		}
	}
	for _, b := range c.Targets.Pgbackrest {
		abs(&b.Config)
	}
}

// Secrets returns every secret the configuration holds: DSN passwords, Redis passwords,
// Elasticsearch passwords and API keys.
func (c *Config) Secrets() []string { return c.secrets }

type validator struct {
	doc      *yamlx.Document
	errs     []error
	names    map[string][]any // target name -> path of its first use
	c        *Config
	sections []Section
}

func (v *validator) errorf(path []any, format string, args ...any) {
	v.errs = append(v.errs, v.doc.Errorf(path, format, args...))
}

func (v *validator) check(c *Config) {
	v.c = c
	t := c.Targets
	if len(t.Postgres)+len(t.Redis)+len(t.Elasticsearch)+len(t.Pgbackrest)+len(t.Pgbouncer) == 0 {
		v.errorf([]any{"targets"}, "no targets: add at least one under targets.postgres, .pgbouncer, .redis, .elasticsearch or .pgbackrest")
	}
	for i, p := range t.Postgres {
		v.postgres([]any{"targets", "postgres", i}, p)
	}
	for i, r := range t.Redis {
		v.redis([]any{"targets", "redis", i}, r)
	}
	for i, e := range t.Elasticsearch {
		v.elasticsearch([]any{"targets", "elasticsearch", i}, e)
	}
	for i, b := range t.Pgbouncer {
		v.pgbouncer([]any{"targets", "pgbouncer", i}, b)
	}
	for i, b := range t.Pgbackrest {
		v.pgbackrest([]any{"targets", "pgbackrest", i}, b)
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

func at(path []any, key string) []any { return append(append([]any{}, path...), key) }

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

// oneSecret resolves a secret given inline, in a file or in an environment variable: at most
// one of them may be set (exactly one when required).
func (v *validator) oneSecret(path []any, what string, required bool, inline, inlineKey, file, fileKey, env, envKey string) string {
	set := 0
	for _, s := range []string{inline, file, env} {
		if s != "" {
			set++
		}
	}
	keys := fmt.Sprintf("%s or %s", fileKey, envKey)
	if inlineKey != "" {
		keys = fmt.Sprintf("%s, %s or %s", inlineKey, fileKey, envKey)
	}
	switch {
	case set > 1:
		v.errorf(path, "%s: set only one of %s", what, keys)
		return ""
	case set == 0 && required:
		v.errorf(path, "%s: set one of %s", what, keys)
		return ""
	}
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			v.errorf(at(path, fileKey), "%s %q: %s", fileKey, file, osReason(err))
			return ""
		}
		return strings.TrimSpace(string(b))
	case env != "":
		val, ok := os.LookupEnv(env)
		if !ok {
			v.errorf(at(path, envKey), "%s: environment variable %s is not set", envKey, env)
			return ""
		}
		if strings.TrimSpace(val) == "" {
			v.errorf(at(path, envKey), "%s: environment variable %s is empty", envKey, env)
			return ""
		}
		return strings.TrimSpace(val)
	}
	return inline
}

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

func (v *validator) duration(path []any, key string, d *time.Duration, def time.Duration) {
	switch {
	case *d == 0:
		*d = def
	case *d < 0:
		v.errorf(at(path, key), "%s %s must be positive", key, *d)
	}
}
