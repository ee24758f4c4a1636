package config

import (
	"strings"
	"testing"
	"time"
)

// The Redis thresholds: defaults kept where the file says nothing, TTL policies added to the
// seed's, and every range checked with the key's line.
func TestRedisThresholds(t *testing.T) {
	c, err := Parse("good.yml", []byte(`targets:
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
	th := c.Advisor.Thresholds
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

	_, err = Parse("bad.yml", []byte(`targets:
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
