// Package queries defines query packs: YAML files of named queries that say where a query
// runs (a SQL statement today; HTTP, Redis and command sources share the shape), on which
// server versions and roles, how long its result stays fresh, and how its columns become
// Prometheus metrics. Packs are decoded strictly and validated on load; the default packs are
// embedded in the binary.
package queries

import (
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

// Body is what a query sends to the server: exactly one of its fields, the one of the
// pack's source (sql for postgres and pgbouncer, http for elasticsearch, redis for redis,
// exec for pgbackrest).
type Body struct {
	SQL   string `yaml:"sql"`
	HTTP  *HTTP  `yaml:"http"`
	Redis *Redis `yaml:"redis"`
	Exec  *Exec  `yaml:"exec"`
}

func (b *Body) empty() bool {
	return strings.TrimSpace(b.SQL) == "" && b.HTTP == nil && b.Redis == nil && b.Exec == nil
}

// Variant is a body for a range of server versions: [MinVersion, MaxVersion), 0 meaning
// unbounded. A query has either a body of its own or variants.
type Variant struct {
	MinVersion int `yaml:"min_version"`
	MaxVersion int `yaml:"max_version"`
	Body       `yaml:",inline"`
}

// Query is one named query of a pack.
type Query struct {
	Name string `yaml:"name"`
	Help string `yaml:"help"`
	Body `yaml:",inline"`
	// Variants hold version-specific bodies (column renames between major versions).
	Variants []Variant `yaml:"variants"`
	// MinVersion and MaxVersion gate the whole query: [min, max) of the server's version number
	// (server_version_num for PostgreSQL); 0 means unbounded.
	MinVersion int    `yaml:"min_version"`
	MaxVersion int    `yaml:"max_version"`
	Roles      []Role `yaml:"roles"`
	// Requires lists features the server must have, e.g. "extension:pg_stat_statements".
	Requires []string `yaml:"requires"`
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
	Version  int
	Role     Role
	Features map[string]bool // e.g. "extension:pg_stat_statements"
}

// Rows is a query result: column names and one slice of values per row. Values are nil,
// string, bool, int64, float64 or time.Time.
type Rows struct {
	Columns []string
	Values  [][]any
}

// Plan decides whether q runs on a server. It returns the body to send, or a reason why the
// query is skipped; missing lists the features the server lacks, if that is the reason.
func (q *Query) Plan(info ServerInfo) (body *Body, skip string, missing []string) {
	if !inRange(info.Version, q.MinVersion, q.MaxVersion) {
		return nil, fmt.Sprintf("server version %d is outside [%s)", info.Version, versionRange(q.MinVersion, q.MaxVersion)), nil
	}
	roles := q.Roles
	if len(roles) == 0 && q.Source == SourceRedis {
		roles = defaultRedisRoles
	}
	if len(roles) > 0 && info.Role != "" && !slices.Contains(roles, info.Role) {
		return nil, fmt.Sprintf("runs only on %s, server is %s", joinRoles(roles), info.Role), nil
	}
	for _, r := range q.Requires {
		if !info.Features[r] {
			missing = append(missing, r)
		}
	}
	if len(missing) > 0 {
		return nil, "server lacks " + strings.Join(missing, ", "), missing
	}
	if len(q.Variants) == 0 {
		return &q.Body, "", nil
	}
	for i := range q.Variants {
		if v := &q.Variants[i]; inRange(info.Version, v.MinVersion, v.MaxVersion) {
			return &v.Body, "", nil
		}
	}
	return nil, fmt.Sprintf("no variant for server version %d", info.Version), nil
}

// defaultRedisRoles: a Redis query that names no role runs on data nodes, not on sentinels.
var defaultRedisRoles = []Role{RolePrimary, RoleReplica}

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
