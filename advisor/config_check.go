package advisor

import (
	"fmt"
	"regexp"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
)

// settingNameRe is the shape of a pg_settings name (extensions' settings carry a prefix:
// pg_stat_statements.max).
var settingNameRe = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?$`)

// checker reports a problem at a path below the advisor section.
type checker struct {
	errorf func(path []any, format string, args ...any)
}

// Check reports what is wrong with the advisor section of the configuration file, decoded
// into a: errorf takes the path of the value below the section (e.g. "thresholds",
// "replica_lag"), which the configuration turns into file:line.
func (a *Config) Check(errorf func(path []any, format string, args ...any)) {
	v := checker{errorf}
	path := []any{}
	th := []any{"thresholds"}
	positive := func(p []any, key string, d time.Duration) {
		if d <= 0 {
			v.errorf(append(append([]any{}, p...), key), "%s must be positive, not %s", key, d)
		}
	}
	positive(path, "interval", a.Interval)
	t := a.Thresholds
	positive(th, "slow_query_mean", t.SlowQueryMean)
	positive(th, "slow_query_window", t.SlowQueryWindow)
	positive(th, "replica_lag", t.ReplicaLag)
	positive(th, "long_transaction", t.LongTransaction)
	positive(th, "long_transaction_critical", t.LongTransactionCritical)
	positive(th, "idle_in_transaction", t.IdleInTransaction)
	positive(path, "index_test_budget", a.IndexTestBudget)
	// backups: a full backup is always scheduled; 0 leaves diff or incr unchecked
	positive(th, "backup_full_period", t.BackupFullPeriod)
	positive(th, "backup_archive_delay", t.BackupArchiveDelay)
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"backup_diff_period", t.BackupDiffPeriod}, {"backup_incr_period", t.BackupIncrPeriod}, {"backup_grace", t.BackupGrace}} {
		if d.v < 0 {
			v.errorf(append(th, d.key), "%s must not be negative, not %s (0 for a period: that type is not scheduled)", d.key, d.v)
		}
	}
	// pg_cron, partitions, subscriptions (checks_jobs.go)
	positive(th, "partition_horizon", t.PartitionHorizon)
	positive(th, "subscription_lag", t.SubscriptionLag)
	positive(th, "subscription_error_window", t.SubscriptionErrorWindow)
	if t.PartitionHorizonCritical < 0 || t.PartitionHorizonCritical > t.PartitionHorizon {
		v.errorf(append(th, "partition_horizon_critical"), "partition_horizon_critical %s: want at least 0 and at most partition_horizon (%s)", t.PartitionHorizonCritical, t.PartitionHorizon)
	}
	if t.CronGrace < 0 {
		v.errorf(append(th, "cron_grace"), "cron_grace must not be negative, not %s", t.CronGrace)
	}
	if t.CronFailuresCritical < 1 {
		v.errorf(append(th, "cron_failures_critical"), "cron_failures_critical must be at least 1")
	}
	if t.BackupArchiveLagBytes <= 0 {
		v.errorf(append(th, "backup_archive_lag_bytes"), "backup_archive_lag_bytes must be above 0 (every stanza would be reported)")
	}
	for _, b := range []struct {
		key string
		v   Bytes
	}{{"replica_lag_bytes", t.ReplicaLagBytes}, {"slot_retained_bytes", t.SlotRetainedBytes}, {"subscription_lag_bytes", t.SubscriptionLagBytes}} {
		if b.v <= 0 {
			v.errorf(append(th, b.key), "%s must be above 0 (every replica and slot would be reported)", b.key)
		}
	}
	for _, n := range []struct {
		key string
		v   float64
	}{
		{"dead_tuple_factor", t.DeadTupleFactor}, {"missing_index_min_seq_scans", t.MissingIndexMinSeqScans},
		{"missing_index_min_rows_per_scan", t.MissingIndexMinRowsPerScan},
	} {
		if n.v < 0 {
			v.errorf(append(th, n.key), "%s must not be negative, not %g", n.key, n.v)
		}
	}
	if t.DeadTupleFactor == 0 {
		v.errorf(append(th, "dead_tuple_factor"), "dead_tuple_factor must be above 0 (1: as soon as autovacuum should have run)")
	}
	if t.WraparoundCritical <= 0 || t.WraparoundCritical >= 1<<31 {
		v.errorf(append(th, "wraparound_critical"), "wraparound_critical %g: want a transaction ID age above 0 and below 2^31 (2147483648, where writes stop)", t.WraparoundCritical)
	}
	for name := range a.Profile {
		if !settingNameRe.MatchString(name) {
			v.errorf(append(append(path, "profile"), name), "%q is not a PostgreSQL setting name", name)
		}
	}
	if t.UnusedIndexMinWindow < 0 {
		v.errorf(append(th, "unused_index_min_window"), "unused_index_min_window must not be negative")
	}
	for _, r := range []struct {
		key string
		v   float64
	}{
		{"top_statement_share", t.TopStatementShare}, {"bloat_warning", t.BloatWarning}, {"bloat_critical", t.BloatCritical},
		{"connections_warning", t.ConnectionsWarning}, {"connections_critical", t.ConnectionsCritical},
		{"sequence_warning", t.SequenceWarning}, {"sequence_critical", t.SequenceCritical},
		{"index_steady_density", t.IndexSteadyDensity},
		{"es_fields_warning", t.ES.ESFieldsWarning}, {"es_fields_critical", t.ES.ESFieldsCritical},
		{"es_heap_warning", t.ES.ESHeapWarning}, {"es_heap_critical", t.ES.ESHeapCritical},
		{"es_breaker_warning", t.ES.ESBreakerWarning}, {"es_shards_warning", t.ES.ESShardsWarning},
	} {
		if r.v <= 0 || r.v > 1 {
			v.errorf(append(th, r.key), "%s is a share: want a number above 0 and at most 1, not %g", r.key, r.v)
		}
	}
	for _, p := range [][3]any{
		{"bloat", t.BloatWarning, t.BloatCritical}, {"connections", t.ConnectionsWarning, t.ConnectionsCritical},
		{"sequence", t.SequenceWarning, t.SequenceCritical},
	} {
		w, c := p[1].(float64), p[2].(float64)
		if w > 0 && w <= 1 && c > 0 && c <= 1 && w > c { // an invalid share is reported above
			v.errorf(append(th, p[0].(string)+"_critical"), "%s_critical must not be below %s_warning", p[0], p[0])
		}
	}
	// Redis (advisor/checks_redis.go)
	for _, r := range [][2]any{{"redis_memory_warning", t.RedisMemoryWarning}, {"redis_memory_critical", t.RedisMemoryCritical}} {
		if f := r[1].(float64); f <= 0 || f > 1 {
			v.errorf(append(th, r[0]), "%s is a share of maxmemory: want a number above 0 and at most 1, not %g", r[0], f)
		}
	}
	if w, c := t.RedisMemoryWarning, t.RedisMemoryCritical; w > 0 && w <= 1 && c > 0 && c <= 1 && c < w {
		v.errorf(append(th, "redis_memory_critical"), "redis_memory_critical must not be below redis_memory_warning")
	}
	for _, b := range [][2]any{{"redis_maxmemory", t.RedisMaxmemory}, {"redis_replica_lag_bytes", t.RedisReplicaLagBytes}} {
		if b[1].(Bytes) <= 0 {
			v.errorf(append(th, b[0]), "%s must be above 0", b[0])
		}
	}
	if t.RedisFragmentationMinMemory < 0 {
		v.errorf(append(th, "redis_fragmentation_min_memory"), "redis_fragmentation_min_memory must not be negative")
	}
	if t.RedisFragmentation <= 1 {
		v.errorf(append(th, "redis_fragmentation"), "redis_fragmentation %g: want a mem_fragmentation_ratio above 1 (1 is no fragmentation)", t.RedisFragmentation)
	}
	positive(th, "redis_replica_lag", t.RedisReplicaLag)
	for _, n := range [][2]any{{"redis_replicas", t.RedisReplicas}, {"redis_sentinels", t.RedisSentinels}} {
		if n[1].(int) < 0 {
			v.errorf(append(th, n[0]), "%s must not be negative (0: not checked)", n[0])
		}
	}
	for prefix, d := range t.RedisTTLPolicy {
		if prefix == "" {
			v.errorf(append(th, "redis_ttl_policy"), "redis_ttl_policy: a namespace needs its key prefix (session:, ...)")
		}
		if d <= 0 {
			v.errorf(append(append(th, "redis_ttl_policy"), prefix), "the TTL policy of %q must be positive, not %s", prefix, d)
		}
	}
	if t.LongTransactionCritical < t.LongTransaction {
		v.errorf(append(th, "long_transaction_critical"), "long_transaction_critical must not be below long_transaction")
	}
	if t.SlowQueryMinCalls < 1 {
		v.errorf(append(th, "slow_query_min_calls"), "slow_query_min_calls must be at least 1")
	}
	// forecasts (checks_forecast.go)
	positive(th, "forecast_window", t.ForecastWindow)
	positive(th, "forecast_horizon_critical", t.ForecastHorizonCritical)
	if t.ForecastMinSpan < 0 || t.ForecastMinSpan > t.ForecastWindow {
		v.errorf(append(th, "forecast_min_span"), "forecast_min_span %s: want at least 0 and at most forecast_window (%s)", t.ForecastMinSpan, t.ForecastWindow)
	}
	if t.ForecastHorizon < t.ForecastHorizonCritical {
		v.errorf(append(th, "forecast_horizon"), "forecast_horizon %s: want at least forecast_horizon_critical (%s)", t.ForecastHorizon, t.ForecastHorizonCritical)
	}
	if t.ForecastHorizonInfo < t.ForecastHorizon {
		v.errorf(append(th, "forecast_horizon_info"), "forecast_horizon_info %s: want at least forecast_horizon (%s; equal: no info forecasts)", t.ForecastHorizonInfo, t.ForecastHorizon)
	}
	if t.PGDiskSize < 0 {
		v.errorf(append(th, "pg_disk_size"), "pg_disk_size must not be negative (0: unknown)")
	}
	if err := a.Prometheus.Validate(); err != nil {
		v.errorf(append(path, "prometheus"), "prometheus: %v", err)
	}
	if a.Concurrency < 1 {
		v.errorf(append(path, "concurrency"), "concurrency %d: want at least 1 target gathered at a time (default %d)", a.Concurrency, DefaultConcurrency)
	}
	if a.MaxFindingsPerCheck < 0 {
		v.errorf(append(path, "max_findings_per_check"), "max_findings_per_check must not be negative (0: no limit)")
	}
	known := map[string]bool{}
	for _, ch := range DefaultChecks() {
		known[ch.ID()] = true
	}
	for i, id := range a.Disable {
		if !known[id] {
			ids := make([]string, 0, len(known))
			for k := range known {
				ids = append(ids, k)
			}
			hint := "docs/advisor.md lists every check"
			if c := yamlx.Closest(id, ids); c != "" {
				hint = fmt.Sprintf("did you mean %q? %s", c, hint)
			}
			v.errorf(append(append(path, "disable"), i), "unknown check %q (%s)", id, hint)
		}
	}
}

// Secrets are the credentials the advisor section holds (its Prometheus'), for redaction.
func (a *Config) Secrets() []string { return a.Prometheus.Secrets() }
