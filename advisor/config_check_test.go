package advisor_test

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
)

// configKinds are the kinds of targets the test files list.
var configKinds = kind.Kinds{postgres.Kind(), redis.Kind()}.Targets()

// parse reads a configuration file's text with the advisor's section, as the exporter does.
func parse(file, text string) (advisor.Config, error) {
	adv := advisor.DefaultConfig()
	_, err := config.Parse(file, []byte(text), configKinds, config.Section{Key: "advisor", Value: &adv, Check: adv.Check, Secrets: adv.Secrets})
	return adv, err
}

// The advisor section's problems come with the file and line of the key.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"advisor", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  interval: 0s
  max_findings_per_check: -1
  disable: [slow_query, slow_querys]
`, []string{
			`bad.yml:6: interval must be positive, not 0s`,
			`bad.yml:7: max_findings_per_check must not be negative (0: no limit)`,
			`bad.yml:8: unknown check "slow_querys" (did you mean "slow_query"? docs/advisor.md lists every check)`,
		}},
		{"advisor size", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  thresholds:
    replica_lag_bytes: 1 megabyte
`, []string{`bad.yml:7: invalid size "1 megabyte" (want a number of bytes or 512KiB, 1MiB, 2GiB)`}},
		{"advisor concurrency", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  concurrency: 0
`, []string{`bad.yml:6: concurrency 0: want at least 1 target gathered at a time (default 16)`}},
		{"advisor unknown threshold", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  thresholds:
    slow_query: 1s
`, []string{`bad.yml:7: unknown key "slow_query" in advisor.thresholds`}},
		{"advisor values", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  thresholds:
    bloat_warning: 0.95
    bloat_critical: 0.9
    connections_warning: 80
    unused_index_min_window: -1h
    slow_query_min_calls: 0
    long_transaction: 1h
    long_transaction_critical: 15m
`, []string{
			`bad.yml:8: bloat_critical must not be below bloat_warning`,
			`bad.yml:9: connections_warning is a share: want a number above 0 and at most 1, not 80`,
			`bad.yml:10: unused_index_min_window must not be negative`,
			`bad.yml:11: slow_query_min_calls must be at least 1`,
			`bad.yml:13: long_transaction_critical must not be below long_transaction`,
		}},
		{"advisor values, more", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  index_test_budget: -5s
  profile: {"Shared Buffers": 4GB, pg_stat_statements.max: "10000"}
  thresholds:
    replica_lag_bytes: 0
    dead_tuple_factor: -1
    missing_index_min_seq_scans: -3
    wraparound_critical: 5e9
    partition_horizon: 48h
    partition_horizon_critical: 72h
    cron_failures_critical: 0
`, []string{
			`bad.yml:6: index_test_budget must be positive, not -5s`,
			`bad.yml:7: "Shared Buffers" is not a PostgreSQL setting name`,
			`bad.yml:9: replica_lag_bytes must be above 0 (every replica and slot would be reported)`,
			`bad.yml:10: dead_tuple_factor must not be negative, not -1`,
			`bad.yml:11: missing_index_min_seq_scans must not be negative, not -3`,
			`bad.yml:12: wraparound_critical 5e+09: want a transaction ID age above 0 and below 2^31 (2147483648, where writes stop)`,
			`bad.yml:14: partition_horizon_critical 72h0m0s: want at least 0 and at most partition_horizon (48h0m0s)`,
			`bad.yml:15: cron_failures_critical must be at least 1`,
		}},
		{"advisor forecasts and prometheus", `targets:
  postgres:
    - name: p
      dsn: postgres://localhost/x
advisor:
  prometheus: {url: "http://p:9090", timeout: 0s}
  thresholds:
    forecast_window: 2h
    forecast_min_span: 3h
    forecast_horizon: 12h
    forecast_horizon_critical: 24h
    forecast_horizon_info: 6h
`, []string{
			`bad.yml:6: prometheus: timeout must be positive, not 0s`,
			`bad.yml:9: forecast_min_span 3h0m0s: want at least 0 and at most forecast_window (2h0m0s)`,
			`bad.yml:10: forecast_horizon 12h0m0s: want at least forecast_horizon_critical (24h0m0s)`,
			`bad.yml:12: forecast_horizon_info 6h0m0s: want at least forecast_horizon (12h0m0s; equal: no info forecasts)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("bad.yml", tc.text)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
		})
	}
}

// The Redis thresholds: defaults kept where the file says nothing, TTL policies added to the
// seed's, and every range checked with the key's line.
func TestRedisThresholds(t *testing.T) {
	adv, err := parse("good.yml", (`targets:
  redis:
    - {name: cache, addr: "127.0.0.1:6379"}
advisor:
  thresholds:
    redis_memory_warning: 0.8
    redis_ttl_policy: {"cart:": 30m, "session:": 2h}
    redis_sentinels: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	th := adv.Thresholds
	if th.RedisMemoryWarning != 0.8 || th.RedisMemoryCritical != 0.95 || th.RedisMaxmemory != 1536<<20 || th.RedisSentinels != 5 || th.RedisReplicas != 2 {
		t.Errorf("thresholds %+v", th)
	}
	want := map[string]time.Duration{"session:": 2 * time.Hour, "wf_meta:": 10 * time.Minute, "tq_info:": 5 * time.Minute, "cart:": 30 * time.Minute}
	if len(th.RedisTTLPolicy) != len(want) {
		t.Errorf("TTL policy %v, want %v", th.RedisTTLPolicy, want)
	}
	for k, v := range want {
		if th.RedisTTLPolicy[k] != v {
			t.Errorf("TTL policy %v, want %v", th.RedisTTLPolicy, want)
		}
	}

	_, err = parse("bad.yml", (`targets:
  redis:
    - {name: cache, addr: "127.0.0.1:6379"}
advisor:
  thresholds:
    redis_memory_warning: 0.9
    redis_memory_critical: 0.8
    redis_maxmemory: 0
    redis_fragmentation: 0.9
    redis_replica_lag: 0s
    redis_sentinels: -1
    redis_ttl_policy: {"tq_info:": 0s}
`))
	wantErrs := []string{
		`bad.yml:7: redis_memory_critical must not be below redis_memory_warning`,
		`bad.yml:8: redis_maxmemory must be above 0`,
		`bad.yml:9: redis_fragmentation 0.9: want a mem_fragmentation_ratio above 1 (1 is no fragmentation)`,
		`bad.yml:10: redis_replica_lag must be positive, not 0s`,
		`bad.yml:11: redis_sentinels must not be negative (0: not checked)`,
		`bad.yml:12: the TTL policy of "tq_info:" must be positive, not 0s`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	for _, w := range wantErrs {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing error %q in:\n%s", w, err)
		}
	}
	if len(got) != len(wantErrs) {
		t.Errorf("%d errors, want %d:\n%s", len(got), len(wantErrs), err)
	}
}
