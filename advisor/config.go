package advisor

import (
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/internal/size"
)

// Config is the advisor section of the configuration file.
type Config struct {
	// Enabled runs the advisor in serve mode (the advise command runs it regardless).
	Enabled bool `yaml:"enabled"`
	// Interval is how often the advisor runs in serve mode.
	Interval   time.Duration `yaml:"interval"`
	Thresholds Thresholds    `yaml:"thresholds"`
	// Profile is the settings the advisor compares each server with (default: the seed
	// deployment's postgresql.conf); differences are info findings.
	Profile map[string]string `yaml:"profile"`
	// IndexTestBudget bounds the time hypothetical-index tests (hypopg) take per run.
	IndexTestBudget time.Duration `yaml:"index_test_budget"`
	// Disable lists checks not to run, by id.
	Disable []string `yaml:"disable"`
	// MaxFindingsPerCheck bounds what one check reports (the worst first); the rest are
	// counted as omitted.
	MaxFindingsPerCheck int `yaml:"max_findings_per_check"`
	// Concurrency is how many targets one run gathers at a time.
	Concurrency int `yaml:"concurrency"`
	// Prometheus is where the windowed checks read their windows and the forecasts their
	// samples, when its url is set (Prometheus' own client settings: TLS, basic auth, bearer
	// token); unset, the advisor keeps its history in memory.
	Prometheus promhistory.Config `yaml:"prometheus"`
}

// DefaultConcurrency is how many targets a run gathers at a time unless configured: each
// gather holds up to the target's max_connections sessions.
const DefaultConcurrency = 16

// Thresholds decide when a finding is raised. The defaults are the seed deployment's own
// where it has one.
type Thresholds struct {
	// SlowQueryMean: a statement whose mean execution time over the window reaches it
	// (the seed's log_min_duration_statement, 1s).
	SlowQueryMean     time.Duration `yaml:"slow_query_mean"`
	SlowQueryMinCalls int           `yaml:"slow_query_min_calls"`
	// SlowQueryWindow is how far back the advisor compares statement counters.
	SlowQueryWindow time.Duration `yaml:"slow_query_window"`
	// TopStatementShare: a statement taking at least this share of all statement time.
	TopStatementShare float64 `yaml:"top_statement_share"`
	// ReplicaLagBytes: WAL a replica has not replayed (the seed's lag_threshold and
	// Patroni's maximum_lag_on_failover, 1 MiB); ReplicaLag: the same in time.
	ReplicaLagBytes Bytes         `yaml:"replica_lag_bytes"`
	ReplicaLag      time.Duration `yaml:"replica_lag"`
	// SlotRetainedBytes: WAL a replication slot holds back.
	SlotRetainedBytes Bytes `yaml:"slot_retained_bytes"`
	// UnusedIndexMinWindow: how long an index must have been observed unscanned.
	UnusedIndexMinWindow time.Duration `yaml:"unused_index_min_window"`
	// UnusedIndexMinSize: smaller unused indexes are not worth a change.
	UnusedIndexMinSize Bytes `yaml:"unused_index_min_size"`
	// BloatWarning, BloatCritical: share of a table or index that is bloat, for relations of
	// at least BloatMinSize.
	BloatWarning  float64 `yaml:"bloat_warning"`
	BloatCritical float64 `yaml:"bloat_critical"`
	BloatMinSize  Bytes   `yaml:"bloat_min_size"`
	// BloatMinWaste: a finding needs at least this much space to win back; less is not worth
	// a rebuild, whatever the share.
	BloatMinWaste Bytes `yaml:"bloat_min_waste"`
	// IndexSteadyDensity: the leaf density a btree settles at under inserts in random key
	// order (page splits leave half-full pages: about ln 2). An index is bloated by what it
	// has beyond that, not beyond a fresh build at its fillfactor, which it leaves as soon as
	// it takes writes.
	IndexSteadyDensity float64 `yaml:"index_steady_density"`
	// DeadTupleFactor: dead rows above this many times what triggers autovacuum.
	DeadTupleFactor float64 `yaml:"dead_tuple_factor"`
	// LongTransaction (warning) and LongTransactionCritical: age of the oldest transaction.
	LongTransaction         time.Duration `yaml:"long_transaction"`
	LongTransactionCritical time.Duration `yaml:"long_transaction_critical"`
	// IdleInTransaction: a session idle inside a transaction this long.
	IdleInTransaction time.Duration `yaml:"idle_in_transaction"`
	// ConnectionsWarning, ConnectionsCritical: share of usable connection slots in use.
	ConnectionsWarning  float64 `yaml:"connections_warning"`
	ConnectionsCritical float64 `yaml:"connections_critical"`
	// SequenceWarning, SequenceCritical: share of a sequence's range used.
	SequenceWarning  float64 `yaml:"sequence_warning"`
	SequenceCritical float64 `yaml:"sequence_critical"`
	// A missing index: a table of at least MissingIndexMinSize, read by at least
	// MissingIndexMinSeqScans sequential scans of MissingIndexMinRowsPerScan rows on average.
	MissingIndexMinSize        Bytes   `yaml:"missing_index_min_size"`
	MissingIndexMinSeqScans    float64 `yaml:"missing_index_min_seq_scans"`
	MissingIndexMinRowsPerScan float64 `yaml:"missing_index_min_rows_per_scan"`
	// WraparoundCritical: transaction ID age that is critical (2^31 stops writes).
	WraparoundCritical float64 `yaml:"wraparound_critical"`

	// Backups (checks_backups.go). BackupFullPeriod, BackupDiffPeriod, BackupIncrPeriod: how
	// often each type of backup is scheduled (the seed's: full weekly, differential daily,
	// incremental every 6 hours; 0 for diff or incr: not scheduled). A backup is late past
	// its period plus BackupGrace, critical past twice its period plus BackupGrace.
	BackupFullPeriod time.Duration `yaml:"backup_full_period"`
	BackupDiffPeriod time.Duration `yaml:"backup_diff_period"`
	BackupIncrPeriod time.Duration `yaml:"backup_incr_period"`
	BackupGrace      time.Duration `yaml:"backup_grace"`
	// BackupArchiveLagBytes: WAL the primary wrote that the stanza's archive does not hold
	// yet (critical at 8 times it).
	BackupArchiveLagBytes Bytes `yaml:"backup_archive_lag_bytes"`
	// BackupArchiveDelay: archiving failing with no success for this long is critical.
	BackupArchiveDelay time.Duration `yaml:"backup_archive_delay"`

	// Redis (checks_redis.go). RedisMemoryWarning, RedisMemoryCritical: share of maxmemory
	// in use; RedisMaxmemory is the maxmemory a server without one is told to set (the
	// seed's 1536mb).
	RedisMemoryWarning  float64 `yaml:"redis_memory_warning"`
	RedisMemoryCritical float64 `yaml:"redis_memory_critical"`
	RedisMaxmemory      Bytes   `yaml:"redis_maxmemory"`
	// RedisTTLPolicy is the longest TTL of each cache namespace (key prefix), the seed's
	// cache_patterns by default; entries given in the file are added to these.
	RedisTTLPolicy map[string]time.Duration `yaml:"redis_ttl_policy"`
	// RedisFragmentation: mem_fragmentation_ratio above it, on servers using at least
	// RedisFragmentationMinMemory (small servers have high ratios that cost nothing).
	RedisFragmentation          float64 `yaml:"redis_fragmentation"`
	RedisFragmentationMinMemory Bytes   `yaml:"redis_fragmentation_min_memory"`
	// RedisReplicaLagBytes and RedisReplicaLag: a replica behind its primary by this many
	// bytes of the replication stream, or silent this long.
	RedisReplicaLagBytes Bytes         `yaml:"redis_replica_lag_bytes"`
	RedisReplicaLag      time.Duration `yaml:"redis_replica_lag"`
	// RedisReplicas and RedisSentinels: the replicas each primary should have and the
	// sentinels each master should be watched by (the seed's 2 and 3; 0: not checked).
	RedisReplicas  int `yaml:"redis_replicas"`
	RedisSentinels int `yaml:"redis_sentinels"`

	// pg_cron, partitions and subscriptions (checks_jobs.go). CronGrace: an active job whose
	// first scheduled run after its last success is this late has missed it (critical when
	// the run after that is late too); CronFailuresCritical: failures in the last 24 hours
	// that make a job whose latest run failed critical (fewer: warning).
	CronGrace            time.Duration `yaml:"cron_grace"`
	CronFailuresCritical int           `yaml:"cron_failures_critical"`
	// PartitionHorizon (warning) and PartitionHorizonCritical: the last partition of a
	// time-range partitioned table ends sooner than this. The seed creates next month's
	// partition on the 1st, so a healthy table reaches four weeks ahead or more.
	PartitionHorizon         time.Duration `yaml:"partition_horizon"`
	PartitionHorizonCritical time.Duration `yaml:"partition_horizon_critical"`
	// SubscriptionLagBytes and SubscriptionLag: a subscription that received this much WAL
	// it has not confirmed, or confirmed nothing for this long (the publisher's keepalives
	// come every wal_sender_timeout/2, 30 s, when there is nothing to send).
	SubscriptionLagBytes Bytes         `yaml:"subscription_lag_bytes"`
	SubscriptionLag      time.Duration `yaml:"subscription_lag"`
	// SubscriptionErrorWindow: error counters rising within it make a subscription erroring.
	SubscriptionErrorWindow time.Duration `yaml:"subscription_error_window"`

	// Forecasts (checks_forecast.go). ForecastWindow: how far back a forecast fits its
	// series; ForecastMinSpan: the samples must span at least this long (a fit on a few
	// minutes says little about a week). A forecast date within ForecastHorizonCritical is
	// critical, within ForecastHorizon a warning, within ForecastHorizonInfo info.
	ForecastWindow          time.Duration `yaml:"forecast_window"`
	ForecastMinSpan         time.Duration `yaml:"forecast_min_span"`
	ForecastHorizon         time.Duration `yaml:"forecast_horizon"`
	ForecastHorizonCritical time.Duration `yaml:"forecast_horizon_critical"`
	ForecastHorizonInfo     time.Duration `yaml:"forecast_horizon_info"`
	// PGDiskSize is the size of the disk of each PostgreSQL server's data directory, which
	// PostgreSQL cannot tell (0: unknown; no disk forecast, and replication slots are
	// forecast against max_slot_wal_keep_size only).
	PGDiskSize Bytes `yaml:"pg_disk_size"`

	// Elasticsearch (checks_elasticsearch.go), the seed's visibility cluster by default.
	ES ESThresholds `yaml:",inline"`
}

// ESThresholds are the Elasticsearch checks' thresholds. Disk watermarks and breaker limits
// are the cluster's own settings, read with the rest.
type ESThresholds struct {
	// ESILMStepStuck: an index in one ILM step (other than waiting for its rollover or its
	// next phase) this long.
	ESILMStepStuck time.Duration `yaml:"es_ilm_step_stuck"`
	// ESRolloverMaxAge and ESRolloverMaxPrimaryShardSize: the rollover conditions of the
	// visibility policy (the seed's 7d and 5GB); an index past one by ESRolloverGrace (age)
	// or a fifth (size) that still waits for its rollover did not roll.
	ESRolloverMaxAge              time.Duration `yaml:"es_rollover_max_age"`
	ESRolloverMaxPrimaryShardSize Bytes         `yaml:"es_rollover_max_primary_shard_size"`
	ESRolloverGrace               time.Duration `yaml:"es_rollover_grace"`
	// ESFieldsWarning, ESFieldsCritical: mapped fields as a share of
	// index.mapping.total_fields.limit (the seed's 2000).
	ESFieldsWarning  float64 `yaml:"es_fields_warning"`
	ESFieldsCritical float64 `yaml:"es_fields_critical"`
	// ESHeapWarning, ESHeapCritical: a node's heap in use, as a share of its max.
	ESHeapWarning  float64 `yaml:"es_heap_warning"`
	ESHeapCritical float64 `yaml:"es_heap_critical"`
	// ESBreakerWarning: a breaker's estimate as a share of its limit.
	ESBreakerWarning float64 `yaml:"es_breaker_warning"`
	// ESShardsWarning: shards on a node as a share of cluster.max_shards_per_node.
	ESShardsWarning float64 `yaml:"es_shards_warning"`
	// ESSnapshotMaxAge: the last successful snapshot of an SLM policy or repository.
	ESSnapshotMaxAge time.Duration `yaml:"es_snapshot_max_age"`
}

// DefaultESThresholds are the seed deployment's.
func DefaultESThresholds() ESThresholds {
	return ESThresholds{
		ESILMStepStuck: 24 * time.Hour, ESRolloverMaxAge: 7 * 24 * time.Hour, ESRolloverMaxPrimaryShardSize: 5 << 30,
		ESRolloverGrace: time.Hour, ESFieldsWarning: 0.9, ESFieldsCritical: 0.98, ESHeapWarning: 0.85, ESHeapCritical: 0.95,
		ESBreakerWarning: 0.9, ESShardsWarning: 0.85, ESSnapshotMaxAge: 26 * time.Hour,
	}
}

// DefaultConfig is the configuration when the file says nothing.
func DefaultConfig() Config {
	return Config{
		Enabled:    true,
		Interval:   time.Minute,
		Prometheus: promhistory.DefaultConfig(),
		Thresholds: Thresholds{
			ES:                         DefaultESThresholds(),
			SlowQueryMean:              time.Second,
			SlowQueryMinCalls:          3,
			SlowQueryWindow:            time.Hour,
			TopStatementShare:          0.3,
			ReplicaLagBytes:            1 << 20,
			ReplicaLag:                 30 * time.Second,
			SlotRetainedBytes:          2 << 30,
			UnusedIndexMinWindow:       168 * time.Hour,
			UnusedIndexMinSize:         1 << 20,
			BloatWarning:               0.4,
			BloatCritical:              0.9,
			BloatMinSize:               10 << 20,
			BloatMinWaste:              16 << 20,
			IndexSteadyDensity:         0.7,
			DeadTupleFactor:            2,
			LongTransaction:            15 * time.Minute,
			LongTransactionCritical:    time.Hour,
			IdleInTransaction:          5 * time.Minute,
			ConnectionsWarning:         0.8,
			ConnectionsCritical:        0.95,
			SequenceWarning:            0.75,
			SequenceCritical:           0.9,
			MissingIndexMinSize:        10 << 20,
			MissingIndexMinSeqScans:    10,
			MissingIndexMinRowsPerScan: 10000,
			WraparoundCritical:         1.5e9,

			BackupFullPeriod:      7 * 24 * time.Hour,
			BackupDiffPeriod:      24 * time.Hour,
			BackupIncrPeriod:      6 * time.Hour,
			BackupGrace:           time.Hour,
			BackupArchiveLagBytes: 256 << 20,
			BackupArchiveDelay:    5 * time.Minute,

			CronGrace:                time.Hour,
			CronFailuresCritical:     3,
			PartitionHorizon:         7 * 24 * time.Hour,
			PartitionHorizonCritical: 24 * time.Hour,
			SubscriptionLagBytes:     16 << 20,
			SubscriptionLag:          5 * time.Minute,
			SubscriptionErrorWindow:  time.Hour,

			RedisMemoryWarning:  0.85,
			RedisMemoryCritical: 0.95,
			RedisMaxmemory:      1536 << 20,
			RedisTTLPolicy: map[string]time.Duration{
				"session:": time.Hour, "wf_meta:": 10 * time.Minute, "tq_info:": 5 * time.Minute,
			},
			RedisFragmentation:          1.5,
			RedisFragmentationMinMemory: 100 << 20,
			RedisReplicaLagBytes:        1 << 20,
			RedisReplicaLag:             30 * time.Second,
			RedisReplicas:               2,
			RedisSentinels:              3,

			ForecastWindow:          24 * time.Hour,
			ForecastMinSpan:         time.Hour,
			ForecastHorizon:         7 * 24 * time.Hour,
			ForecastHorizonCritical: 24 * time.Hour,
			ForecastHorizonInfo:     30 * 24 * time.Hour,
		},
		Profile:             SeedProfile(),
		IndexTestBudget:     5 * time.Second,
		MaxFindingsPerCheck: 100,
		Concurrency:         DefaultConcurrency,
	}
}

// SeedProfile is the seed deployment's postgresql.conf, in pg_settings' own units.
func SeedProfile() map[string]string {
	return map[string]string{
		"shared_buffers": "4GB", "effective_cache_size": "12GB", "work_mem": "64MB",
		"maintenance_work_mem": "1GB", "wal_level": "replica", "max_wal_size": "2GB",
		"min_wal_size": "1GB", "wal_compression": "on", "wal_log_hints": "on",
		"checkpoint_completion_target": "0.9", "checkpoint_timeout": "15min",
		"max_connections": "1000", "random_page_cost": "1.1", "effective_io_concurrency": "200",
		"default_statistics_target": "500", "log_min_duration_statement": "1s",
		"log_lock_waits": "on", "log_temp_files": "10MB", "autovacuum": "on",
		"autovacuum_max_workers": "6", "autovacuum_naptime": "15s",
		"autovacuum_vacuum_threshold": "100", "autovacuum_analyze_threshold": "50",
		"autovacuum_vacuum_scale_factor": "0.05", "autovacuum_analyze_scale_factor": "0.02",
	}
}

// Bytes is a size in bytes, written 1048576, 1MiB, 10MB (powers of 1024 either way) or 2GiB.
type Bytes = size.Bytes
