package redis

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Redis is the body of a redis query: a command, and how its reply becomes rows.
//
// Column names are the names Redis gives (INFO fields, CONFIG parameters, the keys of SENTINEL
// replies), with "-" turned into "_" and ColumnPrefix put in front. Values stay as Redis sends
// them (strings for INFO and CONFIG; "ok" and "up" become numbers through a mapped column).
type Redis struct {
	// Command is sent as is, except "{master}": a command naming it runs once per master the
	// sentinel monitors, and each row gets the column master_name.
	Command []string `yaml:"command"`
	// Reply says how the reply becomes rows; see the RedisReply constants.
	Reply RedisReply `yaml:"reply"`
	// Match selects the INFO fields of an info_keyed reply (a regular expression on the field
	// name). Its capture group, or else the whole name, goes into the label column Key.
	Match string `yaml:"match"`
	Key   string `yaml:"key"`
	// Pivot turns each k=v of an info_keyed value into a row of its own: column Pivot holds k
	// and column "value" holds v (latency percentiles: p50, p99, p99.9).
	Pivot string `yaml:"pivot"`
	// ColumnPrefix is put before the names of the columns the reply gives (slave0's ip becomes
	// slave_ip with "slave_").
	ColumnPrefix string `yaml:"column_prefix"`
	// Optional lists columns that some servers or states lack (AOF fields while AOF is off, a
	// replica's link fields during a sync): when absent they give no sample instead of failing
	// the query.
	Optional []string `yaml:"optional"`
	// Constants adds columns with fixed values to every row (info metrics: {info: 1}).
	Constants map[string]any `yaml:"constants"`
	// Copy adds a column holding the value of another, so that one field can be both a label
	// and a metric: {status_ok: master_status}.
	Copy map[string]string `yaml:"copy"`
	// Flags names flags to look for in the comma-separated "flags" field of a maps reply
	// (s_down, o_down, disconnected): each gives a 0/1 column <prefix><flag>.
	Flags []string `yaml:"flags"`
	// Limit keeps at most this many rows (0: all).
	Limit int `yaml:"limit"`
	// Audit configures the cache-namespace audit (replies audit, audit_ttl and audit_run).
	Audit *RedisAudit `yaml:"audit"`

	match *regexp.Regexp
}

// RedisReply is how a reply becomes rows.
type RedisReply string

// Reply shapes.
const (
	// ReplyInfo: INFO text as one row, one column per field.
	ReplyInfo RedisReply = "info"
	// ReplyInfoKeyed: one row per INFO field that Match selects (db0, slave0, cmdstat_get,
	// errorstat_ERR, latency_percentiles_usec_get, master0), its k=v,k=v value split into
	// columns.
	ReplyInfoKeyed RedisReply = "info_keyed"
	// ReplyPairs: a flat list or map of names and values (CONFIG GET) as one row.
	ReplyPairs RedisReply = "pairs"
	// ReplyMaps: a list of maps (SENTINEL MASTERS, REPLICAS, SENTINELS) as one row per map; a
	// map with ip and port also gets the column address (ip:port).
	ReplyMaps RedisReply = "maps"
	// ReplySlowlog: SLOWLOG GET as one row per entry: position (0 = newest), id, timestamp,
	// duration_usec, cmd (the command name only; arguments are never read).
	ReplySlowlog RedisReply = "slowlog"
	// ReplyLatency: LATENCY LATEST as one row per event: event_name, timestamp, latest_ms,
	// max_ms.
	ReplyLatency RedisReply = "latency"
	// ReplyValue: a single value (SLOWLOG LEN, DBSIZE) as one row with the column value.
	ReplyValue RedisReply = "value"
	// ReplyStatus: a command whose error is an answer (SENTINEL CKQUORUM): one row with ok
	// (1 or 0) and message (the reply or the error text).
	ReplyStatus RedisReply = "status"
	// ReplyAudit: the cache-namespace audit, one row per namespace.
	ReplyAudit RedisReply = "audit"
	// ReplyAuditTTL: the audit's TTL histogram, one row per namespace and bucket (ttl_le).
	ReplyAuditTTL RedisReply = "audit_ttl"
	// ReplyAuditRun: the audit run itself, one row: how much it scanned and spent.
	ReplyAuditRun RedisReply = "audit_run"
)

var redisReplies = []RedisReply{ReplyInfo, ReplyInfoKeyed, ReplyPairs, ReplyMaps, ReplySlowlog,
	ReplyLatency, ReplyValue, ReplyStatus, ReplyAudit, ReplyAuditTTL, ReplyAuditRun}

// IsAudit reports whether the reply comes from the cache-namespace audit rather than a command.
func (r RedisReply) IsAudit() bool {
	return r == ReplyAudit || r == ReplyAuditTTL || r == ReplyAuditRun
}

// MasterPlaceholder in a command makes it run once per master a sentinel monitors.
const MasterPlaceholder = "{master}"

// redisCommands are the commands a pack may send: read-only, never blocking, and with a reply
// whose size does not grow with the data (PUBSUB CHANNELS lists every channel, MEMORY
// MALLOC-STATS is a page of allocator text: neither is here). The value lists the allowed
// subcommands (nil: any arguments).
var redisCommands = map[string][]string{
	"info":     nil,
	"config":   {"get"},
	"slowlog":  {"get", "len"},
	"latency":  {"latest", "history", "histogram"},
	"sentinel": {"masters", "master", "replicas", "slaves", "sentinels", "ckquorum", "get-master-addr-by-name", "myid", "info-cache"},
	"dbsize":   nil,
	"memory":   {"stats"},
	"client":   {"info", "getname", "id"},
	"cluster":  {"info", "myid"},
	"role":     nil,
	"lastsave": nil,
	"time":     nil,
	"ping":     nil,
	"pubsub":   {"numpat", "numsub"},
	"command":  {"count"},
}

// RedisAudit configures the cache-namespace audit: a bounded SCAN sample of the keyspace that
// estimates, per key prefix, how many keys there are and how their TTLs compare to the policy.
type RedisAudit struct {
	Namespaces []RedisNamespace `yaml:"namespaces"`
	// SampleKeys is the most keys one run looks at (default 10000).
	SampleKeys int `yaml:"sample_keys"`
	// TTLSample is the most keys per namespace whose TTL one run reads (default 1000).
	TTLSample int `yaml:"ttl_sample"`
	// ScanCount is the COUNT hint of each SCAN (default 500).
	ScanCount int `yaml:"scan_count"`
	// Budget bounds the time one run spends in commands, measured as round trips, which is an
	// upper bound of the server's time (default 50ms).
	Budget time.Duration `yaml:"budget"`
	// Buckets are the upper bounds of the TTL histogram, in seconds (default: 60 s to 1 day,
	// with the policies of the namespaces).
	Buckets []time.Duration `yaml:"buckets"`
}

// RedisNamespace is a key prefix and its TTL policy.
type RedisNamespace struct {
	Prefix string        `yaml:"prefix"`
	TTL    time.Duration `yaml:"ttl"`
}

// Audit defaults.
const (
	DefaultAuditSampleKeys = 10000
	DefaultAuditTTLSample  = 1000
	DefaultAuditScanCount  = 500
	DefaultAuditBudget     = 50 * time.Millisecond
)

// Audit limits: a run keeps the keys it sampled in memory, reads the TTL of ttl_sample keys
// per namespace in pipelines, and is meant to cost the server milliseconds.
const (
	MaxAuditSampleKeys = 100000
	MaxAuditTTLSample  = 10000
	MaxAuditScanCount  = 10000
	MaxAuditBudget     = time.Second
)

var defaultAuditBuckets = []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour}

// MatchRe returns the compiled Match (nil when unset).
func (r *Redis) MatchRe() *regexp.Regexp { return r.match }

func (r *Redis) validate() []string {
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if !slices.Contains(redisReplies, r.Reply) {
		names := make([]string, len(redisReplies))
		for i, n := range redisReplies {
			names[i] = string(n)
		}
		add("redis reply %q is unknown (want one of %s)", r.Reply, strings.Join(names, ", "))
	}
	if r.Reply.IsAudit() {
		if len(r.Command) > 0 {
			add("redis reply %s takes no command (the audit sends SCAN, PTTL and DBSIZE itself)", r.Reply)
		}
		if r.Audit == nil {
			add("redis reply %s needs audit", r.Reply)
		} else {
			msgs = append(msgs, r.Audit.validate()...)
		}
	} else {
		msgs = append(msgs, r.validateCommand()...)
		if r.Audit != nil {
			add("audit is only for the replies audit, audit_ttl and audit_run")
		}
	}
	if (r.Match != "" || r.Key != "" || r.Pivot != "") && r.Reply != ReplyInfoKeyed {
		add("match, key and pivot are only for reply info_keyed")
	}
	if r.Reply == ReplyInfoKeyed {
		if r.Match == "" {
			add("reply info_keyed needs match (a regular expression on INFO field names)")
		} else if re, err := regexp.Compile(r.Match); err != nil {
			add("match %q: %v", r.Match, err)
		} else if re.NumSubexp() > 1 {
			add("match %q: at most one capture group (it gives the key)", r.Match)
		} else {
			r.match = re
		}
	}
	if len(r.Flags) > 0 && r.Reply != ReplyMaps {
		add("flags are only for reply maps")
	}
	if r.Limit < 0 {
		add("limit %d must not be negative", r.Limit)
	}
	for k, v := range r.Constants {
		switch v.(type) {
		case string, int, int64, float64, bool:
		default:
			add("constant %q: want a number or a string", k)
		}
	}
	return msgs
}

func (r *Redis) validateCommand() []string {
	if len(r.Command) == 0 {
		return []string{"redis needs a command"}
	}
	name := strings.ToLower(r.Command[0])
	subs, ok := redisCommands[name]
	if !ok {
		allowed := make([]string, 0, len(redisCommands))
		for c := range redisCommands {
			allowed = append(allowed, strings.ToUpper(c))
		}
		slices.Sort(allowed)
		return []string{fmt.Sprintf("redis command %s is not allowed: a pack may send only read-only, non-blocking commands (%s)",
			strings.ToUpper(r.Command[0]), strings.Join(allowed, ", "))}
	}
	var msgs []string
	if subs != nil {
		if len(r.Command) < 2 || !slices.Contains(subs, strings.ToLower(r.Command[1])) {
			msgs = append(msgs, fmt.Sprintf("redis command %s: want one of the subcommands %s", strings.ToUpper(name), strings.ToUpper(strings.Join(subs, ", "))))
		}
	}
	for i, a := range r.Command {
		if strings.Contains(a, MasterPlaceholder) && (name != "sentinel" || i < 2) {
			msgs = append(msgs, fmt.Sprintf("%s is only for the arguments of SENTINEL subcommands", MasterPlaceholder))
		}
	}
	return msgs
}

// checkTimeout checks a redis body against the timeout of its query: an audit's budget must
// be below it, or the run would be cut off before it could spend its budget. Without a
// timeout the query has the target's, which the budget's cap keeps below in practice.
func (r *Redis) checkTimeout(timeout time.Duration) []string {
	if r == nil || r.Audit == nil || timeout <= 0 || r.Audit.Budget < timeout {
		return nil
	}
	return []string{fmt.Sprintf("audit budget %s must be below the query's timeout %s", r.Audit.Budget, timeout)}
}

func (a *RedisAudit) validate() []string {
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if len(a.Namespaces) == 0 {
		add("audit needs namespaces (key prefixes with their TTL policy)")
	}
	seen := map[string]bool{}
	for _, n := range a.Namespaces {
		switch {
		case n.Prefix == "":
			add("audit namespace with an empty prefix")
		case seen[n.Prefix]:
			add("audit namespace %q appears twice", n.Prefix)
		case strings.ContainsAny(n.Prefix, "*?[]\\"):
			add("audit namespace %q: a prefix is plain text, not a pattern", n.Prefix)
		}
		seen[n.Prefix] = true
		if n.TTL < 0 {
			add("audit namespace %q: ttl must not be negative", n.Prefix)
		}
	}
	if a.SampleKeys == 0 {
		a.SampleKeys = DefaultAuditSampleKeys
	}
	if a.TTLSample == 0 {
		a.TTLSample = DefaultAuditTTLSample
	}
	if a.ScanCount == 0 {
		a.ScanCount = DefaultAuditScanCount
	}
	if a.Budget == 0 {
		a.Budget = DefaultAuditBudget
	}
	if a.SampleKeys < 0 || a.TTLSample < 0 || a.ScanCount < 0 || a.Budget < 0 {
		add("audit sample_keys, ttl_sample, scan_count and budget must be positive")
	}
	if a.SampleKeys > MaxAuditSampleKeys {
		add("audit sample_keys %d: at most %d (a run keeps the keys it samples in memory)", a.SampleKeys, MaxAuditSampleKeys)
	}
	if a.TTLSample > MaxAuditTTLSample {
		add("audit ttl_sample %d: at most %d (a run reads that many TTLs per namespace)", a.TTLSample, MaxAuditTTLSample)
	}
	if a.ScanCount > MaxAuditScanCount {
		add("audit scan_count %d: at most %d (each SCAN call must stay short)", a.ScanCount, MaxAuditScanCount)
	}
	if a.Budget > MaxAuditBudget {
		add("audit budget %s: at most %s (the audit must stay cheap on the server)", a.Budget, MaxAuditBudget)
	}
	if len(a.Buckets) == 0 {
		a.Buckets = slices.Clone(defaultAuditBuckets)
		for _, n := range a.Namespaces {
			if n.TTL > 0 && !slices.Contains(a.Buckets, n.TTL) {
				a.Buckets = append(a.Buckets, n.TTL)
			}
		}
		slices.Sort(a.Buckets)
	}
	for i, b := range a.Buckets {
		if b <= 0 || (i > 0 && b <= a.Buckets[i-1]) {
			add("audit buckets must be positive and increasing")
			break
		}
	}
	return msgs
}

// packKind reads Redis packs: redis bodies, and queries that run on data nodes unless they
// name the sentinel role.
func packKind() queries.SourceKind {
	return queries.SourceKind{
		Name: queries.SourceRedis, BodyKey: "redis",
		Roles: []queries.Role{queries.RoleSentinel}, DefaultRoles: []queries.Role{queries.RolePrimary, queries.RoleReplica},
		NewBody: func() any { return new(Redis) },
		Compile: func(body any, q *queries.Query) (queries.Body, []queries.Problem) {
			r := body.(*Redis)
			out := queries.Problems(nil, r.validate())
			return r, append(out, queries.Problems([]any{"timeout"}, r.checkTimeout(q.Timeout))...)
		},
	}
}
