package advisor_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The Redis checks on facts as the Redis pack's queries give them.

// redisNode is a Redis target of Redis 7.0.15 with the facts given.
func redisNode(name string, role queries.Role, f facts.RedisFacts) *facts.Target {
	return &facts.Target{Name: name, Kind: queries.SourceRedis, Role: role, Version: 70015, RedisFacts: f}
}

// dataNode is a healthy seed node: 1 GiB of 1536 MiB used, allkeys-lru, saves ok; edit
// changes its INFO.
func dataNode(name string, role queries.Role, edit ...func(*facts.RedisInfo)) *facts.Target {
	in := &facts.RedisInfo{Role: string(role),
		UsedMemory: 1073741824, UsedMemoryRSS: 1181116006, MaxMemory: 1610612736, FragmentationRatio: 1.10,
		MaxmemoryPolicy: "allkeys-lru", Uptime: 86400, RDBLastBgsaveStatus: "ok", RDBLastSaveTime: 1764230400,
		RDBChangesSinceSave: 12, AOFLastBgrewriteStatus: "ok", AOFLastWriteStatus: "ok",
		ConnectedReplicas: 2, MasterReplOffset: 1000000}
	for _, e := range edit {
		e(in)
	}
	return redisNode(name, role, facts.RedisFacts{RedisInfo: in})
}

func evaluateRedis(t *testing.T, cfg advisor.Config, check string, targets ...*facts.Target) []advisor.Finding {
	t.Helper()
	return evaluate(t, snapshot(now, targets...), cfg, nil, check)
}

func only(t *testing.T, what string, fs []advisor.Finding, sev advisor.Severity, object string) advisor.Finding {
	t.Helper()
	if len(fs) != 1 || fs[0].Severity != sev || fs[0].Object != object {
		t.Fatalf("%s: want one %s finding on %q, got %+v", what, sev, object, fs)
	}
	return fs[0]
}

func none(t *testing.T, what string, fs []advisor.Finding) {
	t.Helper()
	if len(fs) != 0 {
		t.Errorf("%s: want no finding, got %+v", what, fs)
	}
}

func TestRedisMemory(t *testing.T) {
	cfg := advisor.DefaultConfig()
	used := func(mib int) float64 { return float64(mib << 20) }
	none(t, "1 GiB of 1536 MiB", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary)))
	none(t, "84 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.UsedMemory = used(1290) })))
	only(t, "86 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.UsedMemory = used(1321) })), advisor.Warning, "memory")
	f := only(t, "96 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.UsedMemory = used(1475) })), advisor.Critical, "memory")
	if !strings.Contains(f.Fix.Text, "1536mb") {
		t.Errorf("the fix should name the current maxmemory: %+v", f.Fix)
	}
	f = only(t, "no maxmemory", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.MaxMemory = 0 })), advisor.Warning, "maxmemory")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "maxmemory 1536mb") {
		t.Errorf("no maxmemory: the fix should set the seed's 1536mb: %+v", f.Fix)
	}

	// evictions under allkeys-lru: sessions go for cache entries
	fs := evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.EvictedKeys = 17 }))
	f = only(t, "evictions under allkeys-lru", fs, advisor.Warning, "maxmemory-policy")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "volatile-ttl") || !strings.Contains(f.Fix.Text, "volatile-lru") ||
		!strings.Contains(f.Fix.Text, "raise maxmemory") || !strings.Contains(f.Fix.Why, "session:") || !strings.Contains(f.Fix.Why, "tq_info: 300 s") {
		t.Errorf("evictions: the fix should name volatile-ttl (not volatile-lru) or a larger maxmemory, and why: %+v", f.Fix)
	}
	if f.Window == nil || !f.Window.From.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("evictions are counted since the server started: window %+v", f.Window)
	}
	none(t, "evictions under volatile-ttl", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.EvictedKeys = 17; i.MaxmemoryPolicy = "volatile-ttl" })))
	// a full cache that evicts: both findings
	fs = evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.EvictedKeys = 17; i.UsedMemory = used(1530) }))
	if len(fs) != 2 || fs[0].Object != "memory" || fs[0].Severity != advisor.Critical || fs[1].Object != "maxmemory-policy" {
		t.Errorf("full and evicting: %+v", fs)
	}
}

// audit is a primary with a complete cache-namespace audit of dbKeys keys.
func audit(dbKeys float64, namespaces ...facts.RedisNamespace) *facts.Target {
	t := dataNode("p", queries.RolePrimary)
	t.RedisAudit = &facts.RedisAudit{DBKeys: dbKeys, ScannedKeys: dbKeys, Coverage: 1, Complete: true, Namespaces: namespaces}
	return t
}

// ns is a namespace of the audit: its keys, all sampled with their TTL, the shares without a
// TTL and over the audit's policy, and the policy in seconds.
func ns(prefix string, keys, noTTL, overPolicy, policy float64) facts.RedisNamespace {
	return facts.RedisNamespace{Prefix: prefix, Keys: keys, HasKeys: true, SampledKeys: keys, TTLSampled: keys,
		NoTTLRatio: noTTL, OverPolicyRatio: overPolicy, Policy: policy}
}

func TestRedisTTLPolicy(t *testing.T) {
	cfg := advisor.DefaultConfig()
	healthy := []facts.RedisNamespace{ns("session:", 500, 0, 0, 3600), ns("wf_meta:", 300, 0, 0, 600), ns("tq_info:", 150, 0, 0, 300)}
	none(t, "every key with its TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, healthy...)))

	// a fifth of the sessions without a TTL
	leak := []facts.RedisNamespace{ns("session:", 500, 0.2, 0, 3600), healthy[1], healthy[2]}
	f := only(t, "sessions without a TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, leak...)), advisor.Warning, "session:")
	ev := map[string]string{}
	for _, e := range f.Evidence {
		ev[e.Name] = e.Value
	}
	if ev["without a TTL"] != "100 (20%)" || ev["share of the keyspace"] != "50% of 1000 keys" || ev["policy"] != "3600 s" {
		t.Errorf("evidence %+v", f.Evidence)
	}
	if !strings.Contains(f.Fix.Text, "EX 3600") || !strings.Contains(f.Fix.Text, "'session:*'") {
		t.Errorf("fix %+v", f.Fix)
	}
	// one key of 500 is enough: a cache key without a TTL is a leak
	leak[0] = ns("session:", 500, 0.002, 0, 3600)
	only(t, "one session without a TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, leak...)), advisor.Warning, "session:")

	// TTLs above the audit's policy
	over := []facts.RedisNamespace{healthy[0], ns("wf_meta:", 300, 0, 0.1, 600), healthy[2]}
	f = only(t, "wf_meta over policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, over...)), advisor.Warning, "wf_meta:")
	if !strings.Contains(f.Summary, "10% have a TTL above the policy's 10 min") {
		t.Errorf("summary %q", f.Summary)
	}

	// the advisor's policy is stricter than the audit's: the histogram tells
	cfg.Thresholds.RedisTTLPolicy = map[string]time.Duration{"wf_meta:": 5 * time.Minute}
	hist := []facts.RedisNamespace{healthy[0], healthy[1], healthy[2]}
	hist[1].Buckets = []facts.RedisTTLBucket{{LE: 60, Sampled: 10}, {LE: 300, Sampled: 150}, {LE: 600, Sampled: 300}, {LE: math.Inf(1), Sampled: 300}}
	f = only(t, "wf_meta over a 5 min policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, hist...)), advisor.Warning, "wf_meta:")
	if !strings.Contains(f.Summary, "50% have a TTL above the policy's 5 min") {
		t.Errorf("summary %q", f.Summary)
	}
	cfg.Thresholds.RedisTTLPolicy = map[string]time.Duration{"wf_meta:": 10 * time.Minute}
	none(t, "wf_meta within a 10 min policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, hist...)))

	// a namespace with no key in the sample says nothing
	none(t, "empty namespace", evaluateRedis(t, advisor.DefaultConfig(), "redis_ttl_policy", audit(0, ns("session:", 0, 0, 0, 3600))))
}

func TestRedisFragmentation(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "ratio 1.1", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary)))
	none(t, "ratio 1.5", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.FragmentationRatio = 1.5 })))
	none(t, "ratio 4 on 10 MiB", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.FragmentationRatio = 4; i.UsedMemory = 10485760 })))
	f := only(t, "ratio 1.8 on a primary", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.FragmentationRatio = 1.8 })), advisor.Warning, "fragmentation")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "activedefrag yes") || !strings.Contains(f.Fix.Text, "restart a replica first") {
		t.Errorf("primary: %+v", f.Fix)
	}
	f = only(t, "ratio 1.8 on a replica", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RoleReplica, func(i *facts.RedisInfo) { i.FragmentationRatio = 1.8 })), advisor.Warning, "fragmentation")
	if !strings.Contains(f.Fix.Text, "restart this replica") {
		t.Errorf("replica: %+v", f.Fix)
	}
	only(t, "ratio 0.7: swapping", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.FragmentationRatio = 0.7 })), advisor.Warning, "fragmentation")
}

func TestRedisPersistence(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "saves ok", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary)))
	f := only(t, "bgsave failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.RDBLastBgsaveStatus = "err" })), advisor.Critical, "rdb")
	if !strings.Contains(f.Fix.Text, "free space and permissions") || !strings.Contains(f.Fix.Why, "stop-writes-on-bgsave-error") {
		t.Errorf("fix %+v", f.Fix)
	}
	only(t, "AOF write failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RoleReplica, func(i *facts.RedisInfo) { i.AOFEnabled = true; i.AOFLastWriteStatus = "err" })), advisor.Critical, "aof")
	only(t, "AOF rewrite failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary, func(i *facts.RedisInfo) { i.AOFLastBgrewriteStatus = "err" })), advisor.Critical, "aof")
}

// replica is a replica whose link to 10.0.0.1:6379 is up or not, last heard from lastIO
// seconds ago (-1 while the link is down, which it has been for 2 min).
func replica(up bool, lastIO float64) *facts.Target {
	t := dataNode("replica", queries.RoleReplica)
	t.RedisReplicaLink = &facts.RedisReplicaLink{MasterHost: "10.0.0.1", MasterPort: "6379", LinkUp: up,
		LastIOSecondsAgo: lastIO, SlaveReplOffset: 1000000}
	if !up {
		t.RedisReplicaLink.LinkDownSince, t.RedisReplicaLink.HasLinkDownSince = 120, true
	}
	return t
}

// primary is a primary at offset 300000000 with connected replicas, the replicas given.
func primary(connected float64, replicas ...facts.RedisConnectedReplica) *facts.Target {
	t := dataNode("primary", queries.RolePrimary, func(i *facts.RedisInfo) { i.ConnectedReplicas, i.MasterReplOffset = connected, 300000000 })
	t.RedisConnectedReplicas = replicas
	return t
}

func TestRedisReplication(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "replica linked", evaluateRedis(t, cfg, "redis_replication", replica(true, 1)))
	f := only(t, "link down", evaluateRedis(t, cfg, "redis_replication", replica(false, -1)), advisor.Critical, "master_link")
	if f.Target != "replica" || !strings.Contains(f.Summary, "10.0.0.1:6379 is down since 2 min") || !strings.Contains(f.Fix.Text, "redis-cli -h 10.0.0.1 -p 6379 PING") {
		t.Errorf("link down: %+v", f)
	}
	only(t, "silent primary", evaluateRedis(t, cfg, "redis_replication", replica(true, 45)), advisor.Warning, "master_link")

	behind := func(b int) float64 { return float64(300000000 - b) }
	second := func(state string, offset, lag float64) facts.RedisConnectedReplica {
		return facts.RedisConnectedReplica{IP: "10.0.0.3", Port: "6379", State: state, Offset: offset, Lag: lag}
	}
	ok := facts.RedisConnectedReplica{IP: "10.0.0.2", Port: "6379", State: "online", Offset: behind(1000)}
	none(t, "two replicas in step", evaluateRedis(t, cfg, "redis_replication", primary(2, ok, second("online", behind(1<<20), 1))))
	f = only(t, "one replica 2 MiB behind", evaluateRedis(t, cfg, "redis_replication",
		primary(2, ok, second("online", behind(2<<20), 0))), advisor.Warning, "replica:10.0.0.3:6379")
	if !strings.Contains(f.Summary, "2.0 MiB behind") {
		t.Errorf("summary %q", f.Summary)
	}
	only(t, "one replica 200 MiB behind", evaluateRedis(t, cfg, "redis_replication",
		primary(2, ok, second("online", behind(200<<20), 0))), advisor.Critical, "replica:10.0.0.3:6379")
	only(t, "one replica syncing", evaluateRedis(t, cfg, "redis_replication",
		primary(2, ok, second("wait_bgsave", 0, 0))), advisor.Critical, "replica:10.0.0.3:6379")
	only(t, "one replica silent", evaluateRedis(t, cfg, "redis_replication",
		primary(2, ok, second("online", behind(0), 40))), advisor.Warning, "replica:10.0.0.3:6379")
	only(t, "one of two replicas", evaluateRedis(t, cfg, "redis_replication", primary(1, ok)), advisor.Warning, "replicas")
	cfg.Thresholds.RedisReplicas = 1
	none(t, "one of one replica", evaluateRedis(t, cfg, "redis_replication", primary(1, ok)))
}

// sentinel is a sentinel's view of mymaster: the primary's address, the sentinels it sees
// (itself included), the quorum, and its replicas as "address: state" (state ok: healthy).
func sentinel(name, address string, sentinels, quorum int, replicas ...string) *facts.Target {
	m := facts.RedisSentinelMaster{Name: "mymaster", Address: address, Status: "ok", Quorum: float64(quorum), ConfigEpoch: 3,
		Sentinels: float64(sentinels), Replicas: float64(len(replicas)), ReplicaStates: replicas,
		CKQuorumOK: true, CKQuorumMsg: "OK 3 usable Sentinels. Quorum and failover authorization can be reached", HasCKQuorum: true}
	for _, r := range replicas {
		if strings.HasSuffix(r, ": ok") {
			m.HealthyReplicas++
		}
	}
	return redisNode(name, queries.RoleSentinel, facts.RedisFacts{RedisSentinel: &facts.RedisSentinel{Masters: []facts.RedisSentinelMaster{m}}})
}

func TestRedisSentinel(t *testing.T) {
	cfg := advisor.DefaultConfig()
	r1, r2 := "10.0.0.2:6379: ok", "10.0.0.3:6379: ok"
	const p = "10.0.0.1:6379"
	none(t, "the seed's three sentinels", evaluateRedis(t, cfg, "redis_sentinel",
		sentinel("s0", p, 3, 2, r1, r2), sentinel("s1", p, 3, 2, r1, r2), sentinel("s2", p, 3, 2, r1, r2)))
	f := only(t, "sees itself alone, quorum 2", evaluateRedis(t, cfg, "redis_sentinel", sentinel("s0", p, 1, 2, r1, r2)), advisor.Critical, "master:mymaster")
	if !strings.Contains(f.Summary, "quorum is 2") || !strings.Contains(f.Fix.Text, "SENTINEL RESET mymaster") {
		t.Errorf("%+v", f)
	}
	only(t, "sees 2 of 3, quorum 2", evaluateRedis(t, cfg, "redis_sentinel", sentinel("s0", p, 2, 2, r1, r2)), advisor.Warning, "master:mymaster")
	f = only(t, "sees 1 of 3, quorum 1", evaluateRedis(t, cfg, "redis_sentinel", sentinel("s0", p, 1, 1, r1, r2)), advisor.Critical, "master:mymaster")
	if !strings.Contains(f.Summary, "majority of 2") {
		t.Errorf("%+v", f)
	}
	f = only(t, "no healthy replica", evaluateRedis(t, cfg, "redis_sentinel",
		sentinel("s0", p, 3, 2, "10.0.0.2:6379: link to the primary down", "10.0.0.3:6379: down (s_down)")), advisor.Critical, "master:mymaster")
	if !strings.Contains(f.Summary, "no healthy replica to fail over to (2 known)") {
		t.Errorf("%+v", f)
	}
	only(t, "one of two replicas", evaluateRedis(t, cfg, "redis_sentinel", sentinel("s0", p, 3, 2, r1)), advisor.Warning, "master:mymaster")
	s := sentinel("s0", p, 3, 2, r1, r2)
	s.RedisSentinel.Masters[0].CKQuorumOK, s.RedisSentinel.Masters[0].CKQuorumMsg = false, "NOQUORUM 1 usable Sentinels"
	only(t, "CKQUORUM fails", evaluateRedis(t, cfg, "redis_sentinel", s), advisor.Critical, "master:mymaster")

	// two sentinels name different primaries
	fs := evaluateRedis(t, cfg, "redis_sentinel",
		sentinel("s0", p, 3, 2, r1, r2), sentinel("s1", p, 3, 2, r1, r2), sentinel("s2", "10.0.0.9:6379", 3, 2, r1, r2))
	f = only(t, "disagreement", fs, advisor.Critical, "master:mymaster:address")
	if !strings.Contains(f.Summary, "disagree") || len(f.Evidence) != 3 || !strings.Contains(f.Fix.Text, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster") {
		t.Errorf("%+v", f)
	}
	// sentinels of different configured clusters are different deployments
	a, b := sentinel("s0", p, 3, 2, r1, r2), sentinel("s9", "10.0.0.9:6379", 3, 2, r1, r2)
	a.Cluster, b.Cluster = "east", "west"
	none(t, "two deployments", evaluateRedis(t, cfg, "redis_sentinel", a, b))
}

// A server watched twice (by address and through its sentinels: one run_id) has its findings
// once, on the target listed first; the other says where they went. Another server with the
// same problem keeps its own finding.
func TestRedisServerWatchedTwice(t *testing.T) {
	full := func(id string) func(*facts.RedisInfo) {
		return func(i *facts.RedisInfo) { i.UsedMemory, i.RunID = i.MaxMemory*0.97, id }
	}
	s := snapshot(now, dataNode("redis-primary", queries.RolePrimary, full("a1")),
		dataNode("cache", queries.RolePrimary, full("a1")), dataNode("other", queries.RolePrimary, full("b2")))
	var checks []advisor.Check
	for _, c := range advisor.DefaultChecks() {
		if c.ID() == "redis_memory" {
			checks = append(checks, c)
		}
	}
	cfg := advisor.DefaultConfig()
	rep := advisor.Evaluate(s, checks, &cfg, nil)
	var on []string
	for _, f := range rep.Findings {
		on = append(on, f.Target)
	}
	if strings.Join(on, ",") != "other,redis-primary" {
		t.Errorf("findings on %v, want other and redis-primary", on)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Target != "cache" || !strings.Contains(rep.Skipped[0].Reason, "same server as target redis-primary") {
		t.Errorf("skipped %+v, want cache as the same server as redis-primary", rep.Skipped)
	}
}
