// Package config reads the exporter's configuration file: the targets to watch and the extra
// query packs. Decoding is strict (an unknown key is an error) and every problem is reported
// as file:line and what is wrong. Secrets are resolved here (from the file, a file or an
// environment variable) and listed by Secrets, so that they can be redacted everywhere.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

// Config is the whole file.
type Config struct {
	Targets Targets `yaml:"targets"`
	// Packs are extra query pack files or directories, added to the embedded defaults.
	Packs []string `yaml:"packs"`

	File    string   `yaml:"-"`
	secrets []string // resolved secrets, for redaction
}

// Targets groups the targets by kind.
type Targets struct {
	Postgres      []*Postgres      `yaml:"postgres"`
	Redis         []*Redis         `yaml:"redis"`
	Elasticsearch []*Elasticsearch `yaml:"elasticsearch"`
	Pgbackrest    []*Pgbackrest    `yaml:"pgbackrest"`
}

// Postgres is a PostgreSQL server.
type Postgres struct {
	Name string `yaml:"name"`
	// One of DSN, DSNFile and DSNEnv gives the connection string.
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`
	// Cluster names the cluster the server belongs to; replicas are also grouped with their
	// primary by system identifier.
	Cluster string `yaml:"cluster"`
	// MaxConnections caps the connections the exporter opens to this server.
	MaxConnections int `yaml:"max_connections"`
	// QueryTimeout bounds one query (unless its pack sets another) and the probe.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// StatementTimeout and LockTimeout are set on the exporter's sessions: the server-side
	// backstop if the exporter cannot cancel a query itself.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	LockTimeout      time.Duration `yaml:"lock_timeout"`

	// ResolvedDSN is the connection string, wherever it came from.
	ResolvedDSN string `yaml:"-"`
}

// Redis is a Redis server, or a primary found through sentinels.
type Redis struct {
	Name         string `yaml:"name"`
	Addr         string `yaml:"addr"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// SentinelMaster makes Addr a sentinel, through which the current primary of this master
	// name is found.
	SentinelMaster string `yaml:"sentinel_master"`

	Password string `yaml:"-"`
}

// Elasticsearch is a cluster.
type Elasticsearch struct {
	Name         string   `yaml:"name"`
	URLs         []string `yaml:"urls"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	PasswordEnv  string   `yaml:"password_env"`
	APIKeyFile   string   `yaml:"api_key_file"`
	APIKeyEnv    string   `yaml:"api_key_env"`
	CAFile       string   `yaml:"ca_file"`

	Password string `yaml:"-"`
	APIKey   string `yaml:"-"`
}

// Pgbackrest is a pgBackRest stanza, read with `pgbackrest info`.
type Pgbackrest struct {
	Name   string `yaml:"name"`
	Stanza string `yaml:"stanza"`
	Config string `yaml:"config"`
	// Command is the pgbackrest executable (default "pgbackrest" on PATH).
	Command string `yaml:"command"`
}

// Defaults for PostgreSQL targets.
const (
	DefaultMaxConnections   = 2
	DefaultQueryTimeout     = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
	DefaultLockTimeout      = time.Second
)

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]*$`)

// Load reads and checks a configuration file.
func Load(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	return Parse(file, data)
}

// Parse decodes and checks configuration text; file names it in errors.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{File: file}
	if err := yamlx.DecodeStrict(file, data, c); err != nil {
		return nil, err
	}
	doc, err := yamlx.Parse(file, data)
	if err != nil {
		return nil, err
	}
	v := &validator{doc: doc, names: map[string][]any{}}
	v.check(c)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// Secrets returns every secret the configuration holds: DSN passwords, Redis passwords,
// Elasticsearch passwords and API keys.
func (c *Config) Secrets() []string { return c.secrets }

type validator struct {
	doc   *yamlx.Document
	errs  []error
	names map[string][]any // target name -> path of its first use
	c     *Config
}

func (v *validator) errorf(path []any, format string, args ...any) {
	v.errs = append(v.errs, v.doc.Errorf(path, format, args...))
}

func (v *validator) check(c *Config) {
	v.c = c
	t := c.Targets
	if len(t.Postgres)+len(t.Redis)+len(t.Elasticsearch)+len(t.Pgbackrest) == 0 {
		v.errorf([]any{"targets"}, "no targets: add at least one under targets.postgres, .redis, .elasticsearch or .pgbackrest")
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
	for i, b := range t.Pgbackrest {
		v.pgbackrest([]any{"targets", "pgbackrest", i}, b)
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
		if !ok || strings.TrimSpace(val) == "" {
			v.errorf(at(path, envKey), "%s: environment variable %s is not set", envKey, env)
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

func (v *validator) postgres(path []any, p *Postgres) {
	v.name(path, "postgres", p.Name)
	dsn := v.oneSecret(path, fmt.Sprintf("postgres target %q", p.Name), true, p.DSN, "dsn", p.DSNFile, "dsn_file", p.DSNEnv, "dsn_env")
	if dsn != "" {
		pw := secret.DSNPasswords(dsn)
		v.c.secrets = append(v.c.secrets, pw...)
		if _, err := pgconn.ParseConfig(dsn); err != nil {
			var red secret.Redactor
			red.Add(pw...)
			red.Add(dsn)
			v.errorf(dsnPath(path, p), "postgres target %q: the DSN does not parse: %s", p.Name, red.String(err.Error()))
		}
		p.ResolvedDSN = dsn
	}
	if p.MaxConnections == 0 {
		p.MaxConnections = DefaultMaxConnections
	}
	if p.MaxConnections < 1 || p.MaxConnections > 20 {
		v.errorf(at(path, "max_connections"), "max_connections %d: want 1 to 20 (the exporter should stay cheap on the server)", p.MaxConnections)
	}
	v.duration(path, "query_timeout", &p.QueryTimeout, DefaultQueryTimeout)
	v.duration(path, "statement_timeout", &p.StatementTimeout, DefaultStatementTimeout)
	v.duration(path, "lock_timeout", &p.LockTimeout, DefaultLockTimeout)
}

func dsnPath(path []any, p *Postgres) []any {
	switch {
	case p.DSNFile != "":
		return at(path, "dsn_file")
	case p.DSNEnv != "":
		return at(path, "dsn_env")
	}
	return at(path, "dsn")
}

func (v *validator) duration(path []any, key string, d *time.Duration, def time.Duration) {
	switch {
	case *d == 0:
		*d = def
	case *d < 0:
		v.errorf(at(path, key), "%s %s must be positive", key, *d)
	}
}

func (v *validator) redis(path []any, r *Redis) {
	v.name(path, "redis", r.Name)
	if r.Addr == "" {
		v.errorf(path, "redis target %q needs addr (host:port)", r.Name)
	} else if _, _, err := net.SplitHostPort(r.Addr); err != nil {
		v.errorf(at(path, "addr"), "redis target %q: addr %q is not host:port", r.Name, r.Addr)
	}
	r.Password = v.oneSecret(path, fmt.Sprintf("redis target %q password", r.Name), false, "", "", r.PasswordFile, "password_file", r.PasswordEnv, "password_env")
	v.c.secrets = append(v.c.secrets, r.Password)
}

func (v *validator) elasticsearch(path []any, e *Elasticsearch) {
	v.name(path, "elasticsearch", e.Name)
	if len(e.URLs) == 0 {
		v.errorf(path, "elasticsearch target %q needs urls", e.Name)
	}
	for i, raw := range e.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(append(at(path, "urls"), i), "elasticsearch target %q: %q is not an http(s) URL", e.Name, redactURL(raw))
			continue
		}
		if p, ok := u.User.Password(); ok {
			v.c.secrets = append(v.c.secrets, p)
		}
	}
	e.Password = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q password", e.Name), false, "", "", e.PasswordFile, "password_file", e.PasswordEnv, "password_env")
	e.APIKey = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q API key", e.Name), false, "", "", e.APIKeyFile, "api_key_file", e.APIKeyEnv, "api_key_env")
	v.c.secrets = append(v.c.secrets, e.Password, e.APIKey)
	if e.CAFile != "" {
		if _, err := os.Stat(e.CAFile); err != nil {
			v.errorf(at(path, "ca_file"), "ca_file %q: %s", e.CAFile, osReason(err))
		}
	}
}

func redactURL(raw string) string {
	var r secret.Redactor
	r.Add(secret.DSNPasswords(raw)...)
	return r.String(raw)
}

func (v *validator) pgbackrest(path []any, b *Pgbackrest) {
	v.name(path, "pgbackrest", b.Name)
	if b.Stanza == "" {
		v.errorf(path, "pgbackrest target %q needs a stanza", b.Name)
	}
	if b.Command == "" {
		b.Command = "pgbackrest"
	}
}
