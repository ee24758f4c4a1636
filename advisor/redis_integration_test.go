package advisor_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

type redisTarget struct {
	name string
	opts redis.Options
}

func redisDirect(name string, s *testenv.RedisServer) redisTarget {
	return redisTarget{name, redis.Options{Addr: s.Addr(), Password: s.Password}}
}

// newRedisRunner builds the advisor over Redis targets as serve does (cmd's buildRedis): the
// default pack, one engine, a store of its own (so that a run sees what was planted, not a
// cached audit of an earlier run).
func newRedisRunner(t *testing.T, cfg advisor.Config, targets ...redisTarget) *advisor.Runner {
	t.Helper()
	set := defaultSet(t)
	var ts []*collector.Target
	for _, rt := range targets {
		rt.opts.Timeout = 10 * time.Second
		src, err := redis.New(rt.opts)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, &collector.Target{Name: rt.name, Kind: queries.SourceRedis, UpMetric: "redis_up", Source: src,
			Queries: set.For(queries.SourceRedis), Timeout: 10 * time.Second, Parallel: redis.DefaultPoolSize})
	}
	return withEngine(t, &advisor.Runner{Checks: advisor.DefaultChecks(), Config: cfg, History: advisor.NewHistory()}, ts, testLogger(t))
}

// redisTestConfig is the seed's thresholds for the test sets: one replica and one sentinel
// (quorum 1) instead of the seed's two and three.
func redisTestConfig() advisor.Config {
	cfg := advisor.DefaultConfig()
	cfg.Thresholds.RedisReplicas = 1
	cfg.Thresholds.RedisSentinels = 1
	return cfg
}

// loadCaches writes n keys per seed namespace, each with its namespace's TTL.
func loadCaches(t *testing.T, c *goredis.Client, n int) {
	t.Helper()
	cx := ctx(t, time.Minute)
	pipe := c.Pipeline()
	for prefix, ttl := range advisor.DefaultConfig().Thresholds.RedisTTLPolicy {
		for i := range n {
			pipe.Set(cx, fmt.Sprintf("%s%d", prefix, i), "v", ttl)
		}
	}
	if _, err := pipe.Exec(cx); err != nil {
		t.Fatal(err)
	}
}

func redisReport(t *testing.T, r *advisor.Runner) *advisor.Report {
	t.Helper()
	rep := r.Run(ctx(t, 2*time.Minute))
	for _, f := range rep.Findings {
		t.Logf("finding %s %s %s %s: %s | fix: %s", f.Severity, f.Check, f.Target, f.Object, f.Summary, f.Fix.Text)
	}
	for _, s := range rep.Skipped {
		t.Logf("skipped %s on %s: %s", s.Check, s.Target, s.Reason)
	}
	return rep
}

func findFinding(rep *advisor.Report, check, target, object string) *advisor.Finding {
	for i, f := range rep.Findings {
		if f.Check == check && f.Target == target && f.Object == object {
			return &rep.Findings[i]
		}
	}
	return nil
}

// TestRedisAdvisorHealthy: the seed's trio (primary, replica, sentinel, and the primary
// found through the sentinel) with every cache key under its TTL gives nothing at warning or
// above, and every Redis check could look at every target it applies to.
func TestRedisAdvisorHealthy(t *testing.T) {
	set := testenv.StartRedisT(t, testenv.RedisOptions{})
	c := set.Primary.Client()
	defer c.Close()
	loadCaches(t, c, 200)
	r := newRedisRunner(t, redisTestConfig(),
		redisDirect("primary", set.Primary), redisDirect("replica", set.Replica), redisDirect("sentinel", set.Sentinel),
		redisTarget{"cache", redis.Options{SentinelMaster: testenv.RedisMasterName, SentinelAddrs: []string{set.Sentinel.Addr()},
			SentinelPassword: set.Sentinel.Password, Password: testenv.RedisPassword}})
	rep := redisReport(t, r)
	for _, ts := range rep.Targets {
		if !ts.Up {
			t.Errorf("target %s down: %s", ts.Name, ts.Error)
		}
	}
	if s := rep.MaxSeverity(); s >= advisor.Warning {
		t.Errorf("a healthy set gave findings at %s", s)
	}
	// "cache" reaches the primary through the sentinel: the same server as "primary", so
	// its checks are reported once, on "primary", and skipped on "cache" with that reason
	sameServer := 0
	for _, s := range rep.Skipped {
		if !strings.HasPrefix(s.Check, "redis_") {
			continue
		}
		if s.Target == "cache" && strings.Contains(s.Reason, "the same server as target primary") {
			sameServer++
			continue
		}
		t.Errorf("%s skipped %s: %s", s.Check, s.Target, s.Reason)
	}
	if sameServer == 0 {
		t.Error("cache, the primary reached through the sentinel, was not recognised as the same server as primary")
	}
	ran := 0
	for _, ci := range rep.Checks {
		if strings.HasPrefix(ci.ID, "redis_") {
			ran++
		}
	}
	if ran != 7 { // six checks of the state, and redis_memory_forecast
		t.Errorf("%d Redis checks ran, want 7", ran)
	}
}

// TestRedisAdvisorFaults plants faults on a set of its own and requires each finding, with
// its object and fix: evictions under allkeys-lru, sessions without a TTL, a replica whose
// primary is gone, a failed RDB snapshot, a sentinel whose quorum it cannot reach, and two
// sentinels naming different primaries for one master name.
func TestRedisAdvisorFaults(t *testing.T) {
	other := testenv.StartRedisT(t, testenv.RedisOptions{}) // a second sentinel, watching another primary
	set := testenv.StartRedisT(t, testenv.RedisOptions{})
	cx := ctx(t, 2*time.Minute)
	p := set.Primary.Client()
	defer p.Close()
	rc := set.Replica.Client()
	defer rc.Close()

	// the replica follows a primary that is not there: its link goes down
	dead, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Do(cx, "REPLICAOF", "127.0.0.1", strconv.Itoa(dead)).Err(); err != nil {
		t.Fatal(err)
	}

	// a tiny maxmemory under allkeys-lru: writes evict
	if err := p.ConfigSet(cx, "maxmemory", "4mb").Err(); err != nil {
		t.Fatal(err)
	}
	pipe := p.Pipeline()
	blob := strings.Repeat("x", 10<<10)
	for i := range 1000 {
		pipe.Set(cx, fmt.Sprintf("blob:%d", i), blob, 0)
	}
	_, _ = pipe.Exec(cx) // some writes may fail with OOM: evictions are what counts
	if n := infoField(t, p, "stats", "evicted_keys"); n == "" || n == "0" {
		t.Fatalf("no key evicted (evicted_keys %q)", n)
	}
	if err := p.ConfigSet(cx, "maxmemory", "1536mb").Err(); err != nil {
		t.Fatal(err)
	}

	// sessions, half of them without a TTL; the other caches as they should be
	loadCaches(t, p, 50)
	pipe = p.Pipeline()
	for i := range 50 {
		pipe.Set(cx, fmt.Sprintf("session:leak:%d", i), "v", 0)
	}
	if _, err := pipe.Exec(cx); err != nil {
		t.Fatal(err)
	}

	// the sentinel's quorum above the sentinels it sees
	sc := set.Sentinel.SentinelClient()
	defer sc.Close()
	if err := sc.Set(cx, testenv.RedisMasterName, "quorum", "2").Err(); err != nil {
		t.Fatal(err)
	}

	// the data directory is gone: the next snapshot fails (even as root)
	if err := os.RemoveAll(filepath.Join(set.Dir, "primary")); err != nil {
		t.Fatal(err)
	}
	if err := p.BgSave(cx).Err(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for infoField(t, p, "persistence", "rdb_last_bgsave_status") != "err" || infoField(t, p, "persistence", "rdb_bgsave_in_progress") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("BGSAVE in a removed directory did not fail")
		}
		time.Sleep(50 * time.Millisecond) // polling the server's state, not ordering goroutines
	}

	r := newRedisRunner(t, redisTestConfig(),
		redisDirect("primary", set.Primary), redisDirect("replica", set.Replica),
		redisDirect("sentinel", set.Sentinel), redisDirect("other-sentinel", other.Sentinel))
	rep := redisReport(t, r)

	for _, want := range []struct {
		check, target, object string
		sev                   advisor.Severity
		fix                   []string
	}{
		{"redis_memory", "primary", "maxmemory-policy", advisor.Warning, []string{"volatile-ttl", "volatile-lru", "raise maxmemory"}},
		{"redis_ttl_policy", "primary", "session:", advisor.Warning, []string{"EX 3600", "'session:*'"}},
		{"redis_replication", "replica", "master_link", advisor.Critical, []string{"127.0.0.1:" + strconv.Itoa(dead)}},
		{"redis_persistence", "primary", "rdb", advisor.Critical, []string{"free space and permissions", "BGSAVE"}},
		{"redis_sentinel", "sentinel", "master:" + testenv.RedisMasterName, advisor.Critical, []string{"SENTINEL RESET"}},
		{"redis_sentinel", "", "master:" + testenv.RedisMasterName + ":address", advisor.Critical, []string{"SENTINEL GET-MASTER-ADDR-BY-NAME"}},
	} {
		f := findFinding(rep, want.check, want.target, want.object)
		if f == nil {
			t.Errorf("no %s finding on %s %q", want.check, want.target, want.object)
			continue
		}
		if f.Severity != want.sev {
			t.Errorf("%s on %s %q: severity %s, want %s", want.check, want.target, want.object, f.Severity, want.sev)
		}
		for _, s := range want.fix {
			if !strings.Contains(f.Fix.Text, s) {
				t.Errorf("%s on %s %q: the fix lacks %q: %s", want.check, want.target, want.object, s, f.Fix.Text)
			}
		}
	}
	if f := findFinding(rep, "redis_ttl_policy", "primary", "session:"); f != nil && !strings.Contains(f.Summary, "50% of the sampled keys have no TTL (50 of 100)") {
		t.Errorf("sessions without a TTL: %s", f.Summary)
	}
	for _, prefix := range []string{"wf_meta:", "tq_info:"} {
		if f := findFinding(rep, "redis_ttl_policy", "primary", prefix); f != nil {
			t.Errorf("%s keys all have their TTL: %+v", prefix, f)
		}
	}
}

// infoField reads one field of an INFO section.
func infoField(t *testing.T, c *goredis.Client, section, field string) string {
	t.Helper()
	text, err := c.Info(ctx(t, 10*time.Second), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}
