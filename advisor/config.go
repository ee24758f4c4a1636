package advisor

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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
}

// DefaultConfig is the configuration when the file says nothing.
func DefaultConfig() Config {
	return Config{
		Enabled:  true,
		Interval: time.Minute,
		Thresholds: Thresholds{
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
type Bytes float64

var bytesRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?i?B)?\s*$`)

// ParseBytes reads a size.
func ParseBytes(s string) (Bytes, error) {
	m := bytesRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes or 512KiB, 1MiB, 2GiB)", s)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	switch strings.TrimSuffix(strings.ToUpper(m[2]), "B") {
	case "K", "KI":
		n *= 1 << 10
	case "M", "MI":
		n *= 1 << 20
	case "G", "GI":
		n *= 1 << 30
	case "T", "TI":
		n *= 1 << 40
	}
	return Bytes(n), nil
}

// UnmarshalYAML reads a size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 1MiB", n.Line)
	}
	v, err := ParseBytes(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes a size as bytes.
func (b Bytes) MarshalYAML() (any, error) { return float64(b), nil }
