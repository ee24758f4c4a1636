// Package queries defines query packs: YAML files of named queries that say where a query
// runs (a SQL statement today; HTTP, Redis and command sources share the shape), on which
// server versions and roles, how long its result stays fresh, and how its columns become
// Prometheus metrics. Packs are decoded strictly and validated on load; the default packs are
// embedded in the binary.
package queries

import (
	"github.com/persistence-exporter/persistence_exporter/internal/version"

	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Source kinds: the protocol a pack's queries are run with.
const (
	SourcePostgres      = "postgres"
	SourcePgbouncer     = "pgbouncer"
	SourceRedis         = "redis"
	SourceElasticsearch = "elasticsearch"
	SourcePgbackrest    = "pgbackrest"
)

// Role is the replication role of a server.
type Role string

// Roles a query may be limited to. A Redis sentinel has the role sentinel.
const (
	RolePrimary  Role = "primary"
	RoleReplica  Role = "replica"
	RoleSentinel Role = "sentinel"
)

// Usage says what a result column becomes.
type Usage string

// Column usages. Mapped and Duration exist for postgres_exporter's MAPPEDMETRIC and DURATION.
const (
	UsageLabel    Usage = "label"
	UsageCounter  Usage = "counter"
	UsageGauge    Usage = "gauge"
	UsageDiscard  Usage = "discard"
	UsageMapped   Usage = "mapped"
	UsageDuration Usage = "duration"
)

// Column maps one result column.
type Column struct {
	Name  string `yaml:"name"`
	Usage Usage  `yaml:"usage"`
	// Metric is the full metric name; the default is <query name>_<column name>.
	Metric string `yaml:"metric"`
	Help   string `yaml:"help"`
	// Scale multiplies the value, for unit conversion to base units (0.001: ms to seconds).
	Scale float64 `yaml:"scale"`
	// Mapping turns the string value of a mapped column into a number.
	Mapping map[string]float64 `yaml:"mapping"`
	// MinVersion and MaxVersion limit the column to [min, max) server versions, for a column
	// that newer servers add; elsewhere it is neither expected nor exported.
	MinVersion int `yaml:"min_version"`
	MaxVersion int `yaml:"max_version"`
}

// InVersion reports whether the column exists on a server of version v.
func (c *Column) InVersion(v int) bool { return inRange(v, c.MinVersion, c.MaxVersion) }

// Variant is a body for a range of server versions: [MinVersion, MaxVersion), 0 meaning
// unbounded, and for servers that have what Requires lists. A query has either a body of its
// own or variants; the first variant that fits the server runs.
type Variant struct {
	MinVersion int      `yaml:"min_version"`
	MaxVersion int      `yaml:"max_version"`
	Requires   []string `yaml:"requires"`
	// Body is the variant's body, as the query's kind compiled it.
	Body Body `yaml:"-"`
}

// Scopes of a query.
const (
	// ScopeServer runs the query once, on the database of the target's DSN.
	ScopeServer = "server"
	// ScopeDatabase runs the query in every database the target watches and concatenates the
	// rows (per-table statistics live in each database).
	ScopeDatabase = "database"
)

// Top caps the series the metrics of a query carry: the N rows with the largest By column.
// The stored result, which the advisor reads, keeps every row.
type Top struct {
	N  int    `yaml:"n"`
	By string `yaml:"by"`
	// Pushdown has the statement choose the rows: it takes the cap as its parameter $1 and
	// returns only its first $1 rows in the order of By (LIMIT $1 after ORDER BY ... DESC).
	// A scrape passes the target's N, so that a big catalog's rows the metrics would drop are
	// neither read nor sent; a gather for the advisor passes NULL (LIMIT NULL: every row), so
	// that full rows are read only on the advisor's cadence. A full result fresh in the store
	// serves scrapes too.
	Pushdown bool `yaml:"pushdown"`
}

type rowLimitKey struct{}

// WithRowLimit asks the queries run with ctx whose top is pushed down for their first n rows
// only (Top.Pushdown); without it they return every row.
func WithRowLimit(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, rowLimitKey{}, n)
}

// RowLimit returns the limit WithRowLimit set.
func RowLimit(ctx context.Context) (int, bool) {
	n, ok := ctx.Value(rowLimitKey{}).(int)
	return n, ok
}

// PushesDownTop reports whether the query's statement takes its top's cap as $1.
func (q *Query) PushesDownTop() bool { return q.Top != nil && q.Top.Pushdown }

// MetricName takes each row's metric name from a column, for results that list metrics as
// rows (pg_settings, pgbouncer's SHOW LISTS): the name is Prefix + the column's value, after
// Map renames the value. The query then has exactly one metric column, its value.
type MetricName struct {
	Column string            `yaml:"column"`
	Prefix string            `yaml:"prefix"`
	Map    map[string]string `yaml:"map"`
}

// For returns the metric name of a row's name value, or "" when it makes no valid name.
func (n *MetricName) For(value string) string {
	if m, ok := n.Map[value]; ok {
		value = m
	}
	name := n.Prefix + value
	if value == "" || !metricNameRe.MatchString(name) {
		return ""
	}
	return name
}

// Query is one named query of a pack.
type Query struct {
	Name string `yaml:"name"`
	Help string `yaml:"help"`
	// Body is what the query sends, as its kind compiled it from the pack (under the kind's
	// body key: sql, http, redis, exec).
	Body Body `yaml:"-"`
	// Variants hold version-specific bodies (column renames between major versions).
	Variants []Variant `yaml:"-"`
	// MinVersion and MaxVersion gate the whole query: [min, max) of the server's version number
	// (server_version_num for PostgreSQL); 0 means unbounded.
	MinVersion int    `yaml:"min_version"`
	MaxVersion int    `yaml:"max_version"`
	Roles      []Role `yaml:"roles"`
	// Requires lists features the server must have: "extension:pg_stat_statements",
	// "extension:pg_stat_statements>=1.11", "feature:NAME". For a database-scoped query the
	// extensions are checked in each database.
	Requires []string `yaml:"requires"`
	// Scope is ScopeServer (default) or ScopeDatabase.
	Scope string `yaml:"scope"`
	// Top caps the series of the metrics (a target may change N).
	Top *Top `yaml:"top"`
	// MetricName names each row's metric from a column.
	MetricName *MetricName `yaml:"metric_name"`
	// TTL is how long a result is served from the store before it is run again (0: every scrape).
	TTL time.Duration `yaml:"ttl"`
	// Timeout bounds one execution; 0 takes the target's default.
	Timeout time.Duration `yaml:"timeout"`
	Columns []Column      `yaml:"columns"`
	// ExportUnlisted exports numeric result columns that Columns does not list as untyped
	// metrics, as postgres_exporter does with its queries.yaml.
	ExportUnlisted bool `yaml:"-"`

	// Filled in on load.
	Source  string   `yaml:"-"`
	File    string   `yaml:"-"`
	Line    int      `yaml:"-"`
	Labels  []string `yaml:"-"` // label columns, in order
	Metrics []Metric `yaml:"-"`
}

// Exports reports whether the query can put series on /metrics. One that cannot only feeds
// the advisor (every column discarded): an exporter without the advisor need not send it.
func (q *Query) Exports() bool {
	return len(q.Metrics) > 0 || q.ExportUnlisted || q.MetricName != nil
}

// MetricType is the exposition type of a metric.
type MetricType int

// Exposition types.
const (
	Gauge MetricType = iota
	Counter
	// Untyped is used for a counter whose established name (postgres_exporter's) lacks the
	// _total suffix: rate() works the same and the exposition stays lint-clean.
	Untyped
)

// ExposedType is the type a metric is exposed with. Established names that break the naming
// rules of Prometheus' lint — a counter without _total (pg_stat_database_xact_commit), a gauge
// ending like a counter, histogram or summary series (pg_stat_activity_count,
// elasticsearch_indices_docs_total) — keep their names, so that existing dashboards work, and
// are exposed untyped, which the rules do not cover and PromQL treats the same.
func ExposedType(name string, t MetricType) MetricType {
	switch {
	case t == Counter && !strings.HasSuffix(name, "_total"):
		return Untyped
	case t != Counter:
		for _, suffix := range []string{"_total", "_count", "_sum", "_bucket"} {
			if strings.HasSuffix(name, suffix) {
				return Untyped
			}
		}
	}
	return t
}

func (t MetricType) String() string {
	return [...]string{"gauge", "counter", "untyped"}[t]
}

// Metric is one metric a query produces from one column.
type Metric struct {
	Name    string
	Help    string
	Type    MetricType
	Column  string
	Scale   float64 // 1 when not set
	Mapping map[string]float64
	// Milliseconds marks postgres_exporter's DURATION: a duration value exported in ms.
	Milliseconds bool
	// MinVersion and MaxVersion are the column's version range.
	MinVersion, MaxVersion int
}

// InVersion reports whether the metric is produced on a server of version v.
func (m *Metric) InVersion(v int) bool { return inRange(v, m.MinVersion, m.MaxVersion) }

// ServerInfo is what a source learned about a server when it probed it; it decides which
// queries are sent.
type ServerInfo struct {
	Version int
	// VersionText is the version as the server reports it ("PgBouncer 1.18.0"), where a
	// source keeps it.
	VersionText string
	Role        Role
	// Features maps what the server has ("extension:pg_stat_statements") to its version
	// ("1.10"), or to "" when it has no version.
	Features map[string]string
}

// Has reports whether the server satisfies one requirement: "extension:NAME",
// "extension:NAME>=1.11", "extension:NAME<1.8" (also >, <=, =).
func (info ServerInfo) Has(req string) bool {
	return Satisfies(info.Features, req)
}

// Satisfies checks a requirement against a feature map (see ServerInfo.Has).
func Satisfies(features map[string]string, req string) bool {
	name, op, want := splitRequirement(req)
	have, ok := features[name]
	if !ok {
		return false
	}
	if op == "" {
		return true
	}
	c := version.Compare(have, want)
	switch op {
	case ">=":
		return c >= 0
	case ">":
		return c > 0
	case "<=":
		return c <= 0
	case "<":
		return c < 0
	case "=":
		return c == 0
	}
	return false
}

var requirementOps = []string{">=", "<=", ">", "<", "="}

// splitRequirement splits "extension:x>=1.2" into "extension:x", ">=", "1.2".
func splitRequirement(req string) (name, op, version string) {
	for i := range req {
		for _, o := range requirementOps {
			if strings.HasPrefix(req[i:], o) {
				return req[:i], o, req[i+len(o):]
			}
		}
	}
	return req, "", ""
}

// Plan decides whether q runs on a server. It returns the body to send, or a reason why the
// query is skipped; missing lists the features the server lacks, if that is the reason.
func (q *Query) Plan(info ServerInfo) (body Body, skip string, missing []string) {
	if !inRange(info.Version, q.MinVersion, q.MaxVersion) {
		return nil, fmt.Sprintf("server version %d is outside [%s)", info.Version, versionRange(q.MinVersion, q.MaxVersion)), nil
	}
	if roles := q.Roles; len(roles) > 0 && info.Role != "" && !slices.Contains(roles, info.Role) {
		return nil, fmt.Sprintf("runs only on %s, server is %s", joinRoles(roles), info.Role), nil
	}
	if q.Scope != ScopeDatabase {
		for _, r := range q.Requires {
			if !info.Has(r) {
				missing = append(missing, r)
			}
		}
	}
	if len(missing) > 0 {
		return nil, "server lacks " + strings.Join(missing, ", "), missing
	}
	if len(q.Variants) == 0 {
		return q.Body, "", nil
	}
	if v := q.VariantFor(info.Version, info.Features); v != nil {
		return v.Body, "", nil
	}
	return nil, fmt.Sprintf("no variant for server version %d", info.Version), nil
}

// VariantFor returns the first variant that fits a server version and features, or nil.
func (q *Query) VariantFor(version int, features map[string]string) *Variant {
	for i := range q.Variants {
		v := &q.Variants[i]
		if !inRange(version, v.MinVersion, v.MaxVersion) {
			continue
		}
		ok := true
		for _, r := range v.Requires {
			ok = ok && Satisfies(features, r)
		}
		if ok {
			return v
		}
	}
	return nil
}

func inRange(v, lo, hi int) bool {
	return (lo == 0 || v >= lo) && (hi == 0 || v < hi)
}

func versionRange(lo, hi int) string {
	s := "0, "
	if lo > 0 {
		s = fmt.Sprintf("%d, ", lo)
	}
	if hi > 0 {
		return s + fmt.Sprint(hi)
	}
	return s + "∞"
}

func joinRoles(rs []Role) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// StatementTag starts every statement the exporter sends to PostgreSQL, followed by the
// query's name and the end of the comment, so that DBAs recognize the exporter's statements
// in pg_stat_activity, pg_stat_statements and the server log, and the advisor leaves them out
// of its statement checks.
const StatementTag = "/* persistence_exporter "

type scrapeDeadlineKey struct{}

// WithScrapeDeadline records when the scrape that asks for queries must have its answer. A
// query's execution is detached from the scrape (it may finish for the next one), but a
// source can use the scrape's deadline to bound what would hold others up, such as a wait
// for a lock.
func WithScrapeDeadline(ctx context.Context, deadline time.Time) context.Context {
	return context.WithValue(ctx, scrapeDeadlineKey{}, deadline)
}

// ScrapeDeadline returns the deadline WithScrapeDeadline recorded.
func ScrapeDeadline(ctx context.Context) (time.Time, bool) {
	d, ok := ctx.Value(scrapeDeadlineKey{}).(time.Time)
	return d, ok
}
