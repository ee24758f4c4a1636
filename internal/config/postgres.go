package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

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

	// Databases selects the databases whose tables, indexes and sequences are watched
	// (default: every database that allows connections, templates excluded); Schemas selects
	// schemas the same way. Patterns are regular expressions matched against whole names.
	Databases Patterns `yaml:"databases"`
	Schemas   Patterns `yaml:"schemas"`
	// TopN caps, per query name, how many rows (tables, indexes, statements) its metrics
	// carry; it overrides the pack's top.n. The advisor still reads every row.
	TopN map[string]int `yaml:"top_n"`

	// ResolvedDSN is the connection string, wherever it came from.
	ResolvedDSN string `yaml:"-"`
}

// Patterns include and exclude names by regular expression (anchored).
type Patterns struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`

	IncludeRE, ExcludeRE []*regexp.Regexp `yaml:"-"`
}

// Set reports whether any pattern is given.
func (p *Patterns) Set() bool { return len(p.Include)+len(p.Exclude) > 0 }

func (v *validator) patterns(path []any, p *Patterns) {
	compile := func(key string, src []string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for i, s := range src {
			re, err := regexp.Compile("^(?:" + s + ")$")
			if err != nil {
				v.errorf(append(at(path, key), i), "pattern %q: %v", s, err)
				continue
			}
			out = append(out, re)
		}
		return out
	}
	p.IncludeRE = compile("include", p.Include)
	p.ExcludeRE = compile("exclude", p.Exclude)
}

// Defaults for PostgreSQL targets.
const (
	DefaultMaxConnections   = 2
	DefaultQueryTimeout     = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
	DefaultLockTimeout      = time.Second
)

func (v *validator) postgres(path []any, p *Postgres) {
	v.name(path, "postgres", p.Name)
	p.ResolvedDSN = v.dsn(path, "postgres", p.Name, p.DSN, p.DSNFile, p.DSNEnv)
	v.patterns(at(path, "databases"), &p.Databases)
	v.patterns(at(path, "schemas"), &p.Schemas)
	for q, n := range p.TopN {
		if n < 1 {
			v.errorf(append(at(path, "top_n"), q), "top_n of %s: %d, want at least 1", q, n)
		}
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

// dsn resolves a PostgreSQL-protocol connection string given inline, in a file or in an
// environment variable, registers its password as a secret, and checks that it parses.
func (v *validator) dsn(path []any, kind, name, inline, file, env string) string {
	dsn := v.oneSecret(path, fmt.Sprintf("%s target %q", kind, name), true, inline, "dsn", file, "dsn_file", env, "dsn_env")
	if dsn == "" {
		return ""
	}
	pw := secret.DSNPasswords(dsn)
	v.c.secrets = append(v.c.secrets, pw...)
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		var red secret.Redactor
		red.Add(pw...)
		red.Add(dsn)
		key := "dsn"
		switch {
		case file != "":
			key = "dsn_file"
		case env != "":
			key = "dsn_env"
		}
		v.errorf(at(path, key), "%s target %q: the DSN does not parse: %s", kind, name, red.String(dsnProblem(dsn, err)))
	}
	return dsn
}

var (
	quotedRe = regexp.MustCompile("`[^`]*`|\"[^\"]*\"|'[^']*'")
	// urlReserved are the characters that end a URL's user info early when not encoded
	urlReserved = "@:/?#%[] "
)

// dsnProblem says what is wrong with a DSN that does not parse, in words that echo no part
// of it: pgx's message quotes the connection string and pieces of it, and its own masking
// of the password leaves fragments of a password that is not percent-encoded
// ("xxxxx@ss:xxxxxx"). Only pgx's own words are kept: quoted text is dropped, and so is
// any word that occurs in the DSN.
func dsnProblem(dsn string, err error) string {
	msg := quotedRe.ReplaceAllString(err.Error(), "…")
	words := strings.Fields(msg)
	for i, w := range words {
		core := strings.Trim(w, "()[]{}:;,.")
		if len(core) >= 2 && strings.Contains(dsn, core) {
			words[i] = "…"
		}
	}
	msg = strings.Join(words, " ")
	scheme, rest, isURL := strings.Cut(dsn, "://")
	if isURL && (scheme == "postgres" || scheme == "postgresql") {
		if at := strings.LastIndex(rest, "@"); at >= 0 && strings.ContainsAny(rest[:at], urlReserved) {
			userinfo := rest[:at]
			if strings.Count(userinfo, ":") > 1 || strings.ContainsAny(strings.Replace(userinfo, ":", "", 1), urlReserved) {
				msg += "; the user name or password holds characters a URL reserves (@ : / ? # % [ ] or a space): " +
					"percent-encode them (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25) " +
					"or write the DSN as key=value pairs (host=... user=... password='...')"
			}
		}
	}
	return msg
}
