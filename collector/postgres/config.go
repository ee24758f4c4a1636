package postgres

import (
	"errors"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	promconfig "github.com/prometheus/common/config"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Kind is the PostgreSQL source kind: sql bodies, queries that may run in every database of
// a target, and the servers of targets.postgres.
func Kind() kind.Kind {
	return kind.Of[Target](sqlKind(queries.SourcePostgres, true, queries.ScopeDatabase), "pg_up")
}

// PgbouncerKind is the pgbouncer source kind: sql bodies of SHOW commands, and the admin
// consoles of targets.pgbouncer.
func PgbouncerKind() kind.Kind {
	return kind.Of[PgbouncerTarget](sqlKind(queries.SourcePgbouncer, false), "pgbouncer_up")
}

// Target is a PostgreSQL server of the configuration (targets.postgres).
type Target struct {
	config.Base `yaml:",inline"`
	Conn        `yaml:",inline"`
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
}

// PgbouncerTarget is a PgBouncer of the configuration (targets.pgbouncer), read through its
// admin console (the "pgbouncer" database) with SHOW commands.
type PgbouncerTarget struct {
	config.Base `yaml:",inline"`
	Conn        `yaml:",inline"`
	// QueryTimeout bounds one SHOW command and the probe.
	QueryTimeout time.Duration `yaml:"query_timeout"`
}

// Conn is how a target is reached: a connection string given inline, in a file or in an
// environment variable (exactly one of them).
type Conn struct {
	DSN     string `yaml:"dsn"`
	DSNFile string `yaml:"dsn_file"`
	DSNEnv  string `yaml:"dsn_env"`

	// ResolvedDSN is the connection string, wherever it came from.
	ResolvedDSN string `yaml:"-"`
}

// Defaults for PostgreSQL targets.
const (
	DefaultMaxConnections   = 2
	DefaultQueryTimeout     = 10 * time.Second
	DefaultStatementTimeout = 30 * time.Second
	DefaultLockTimeout      = time.Second
)

// Check checks the target and resolves its DSN and patterns.
func (p *Target) Check(c *config.Check) {
	p.check(c)
	p.Databases.check(c, "databases")
	p.Schemas.check(c, "schemas")
	for q, n := range p.TopN {
		if n < 1 {
			c.Errorf([]any{"top_n", q}, "top_n of %s: %d, want at least 1", q, n)
		}
	}
	c.Cap("max_connections", &p.MaxConnections, DefaultMaxConnections, 20, "server")
	c.Duration("query_timeout", &p.QueryTimeout, DefaultQueryTimeout)
	c.Duration("statement_timeout", &p.StatementTimeout, DefaultStatementTimeout)
	c.Duration("lock_timeout", &p.LockTimeout, DefaultLockTimeout)
}

// Build makes the target's source; a top_n key must name a query whose series it caps (the
// packs decide, not the file alone).
func (p *Target) Build(env *kind.Env) (*kind.Built, error) {
	var capped []string
	for _, q := range env.Queries {
		if q.Top != nil {
			capped = append(capped, q.Name)
		}
	}
	var errs []error
	for q := range p.TopN {
		if !slices.Contains(capped, q) {
			errs = append(errs, env.ErrorAt([]any{"top_n", q},
				"top_n: no PostgreSQL query %q caps its series (those that do: %s)", q, strings.Join(capped, ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	src, err := New(Options{
		DSN:              p.ResolvedDSN,
		MaxConns:         p.MaxConnections,
		StatementTimeout: p.StatementTimeout,
		LockTimeout:      p.LockTimeout,
		ConnectTimeout:   p.QueryTimeout,
		Databases:        p.Databases.filter(),
		Schemas:          p.Schemas.filter(),
		Logger:           env.Log,
	})
	if err != nil {
		return nil, err
	}
	return &kind.Built{Source: src, Timeout: p.QueryTimeout, Parallel: p.MaxConnections, TopN: p.TopN, Address: address(p.ResolvedDSN)}, nil
}

// Check checks the target and resolves its DSN.
func (b *PgbouncerTarget) Check(c *config.Check) {
	b.check(c)
	c.Duration("query_timeout", &b.QueryTimeout, DefaultQueryTimeout)
}

// Build makes the target's source: one connection to the console.
func (b *PgbouncerTarget) Build(*kind.Env) (*kind.Built, error) {
	src, err := NewPgbouncer(Options{DSN: b.ResolvedDSN, MaxConns: 1, ConnectTimeout: b.QueryTimeout})
	if err != nil {
		return nil, err
	}
	return &kind.Built{Source: src, Timeout: b.QueryTimeout, Parallel: 1, Address: address(b.ResolvedDSN)}, nil
}

// SetDirectory makes a relative dsn_file relative to dir.
func (d *Conn) SetDirectory(dir string) { d.DSNFile = promconfig.JoinDir(dir, d.DSNFile) }

// check resolves the connection string, registers its password as a secret, and checks
// that it parses.
func (d *Conn) check(c *config.Check) {
	dsn := c.Secret("", true, config.Inline("dsn", d.DSN), config.InFile("dsn_file", d.DSNFile), config.InEnv("dsn_env", d.DSNEnv))
	d.ResolvedDSN = dsn
	if dsn == "" {
		return
	}
	pw := secret.DSNPasswords(dsn)
	c.Secrets(pw...)
	if _, err := pgconn.ParseConfig(dsn); err != nil {
		var red secret.Redactor
		red.Add(pw...)
		red.Add(dsn)
		key := "dsn"
		switch {
		case d.DSNFile != "":
			key = "dsn_file"
		case d.DSNEnv != "":
			key = "dsn_env"
		}
		c.Errorf([]any{key}, "%s: the DSN does not parse: %s", c.Subject(), red.String(dsnProblem(dsn, err)))
	}
}

// address is host:port/database of a DSN, without user or password.
func address(dsn string) string {
	c, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	host := c.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(c.Port)))
	}
	return host + "/" + c.Database
}

// Patterns include and exclude names by regular expression (anchored).
type Patterns struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`

	IncludeRE, ExcludeRE []*regexp.Regexp `yaml:"-"`
}

// Set reports whether any pattern is given.
func (p *Patterns) Set() bool { return len(p.Include)+len(p.Exclude) > 0 }

func (p *Patterns) check(c *config.Check, key string) {
	compile := func(list string, src []string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for i, s := range src {
			re, err := regexp.Compile("^(?:" + s + ")$")
			if err != nil {
				c.Errorf([]any{key, list, i}, "pattern %q: %v", s, err)
				continue
			}
			out = append(out, re)
		}
		return out
	}
	p.IncludeRE = compile("include", p.Include)
	p.ExcludeRE = compile("exclude", p.Exclude)
}

// filter is the source's filter of the patterns (nil when none is set).
func (p *Patterns) filter() *Filter {
	if !p.Set() {
		return nil
	}
	return &Filter{Include: p.IncludeRE, Exclude: p.ExcludeRE}
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
