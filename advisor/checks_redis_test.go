package advisor_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The Redis checks on facts built from rows shaped like the Redis source's: INFO values are
// text, as the server sends them.

type redisServer struct {
	name    string
	role    queries.Role
	cluster string
	rows    map[string]*queries.Rows
}

func redisSnapshot(servers ...redisServer) *facts.Snapshot {
	var snaps []*collector.Snapshot
	clusterOf := map[string]string{}
	for _, s := range servers {
		clusterOf[s.name] = s.cluster
		snap := &collector.Snapshot{Target: &collector.Target{Name: s.name, Kind: queries.SourceRedis}, At: now, Up: true,
			Info: queries.ServerInfo{Version: 70015, Role: s.role}}
		for name, r := range s.rows {
			snap.Results = append(snap.Results, &collector.Result{Query: &queries.Query{Name: name}, Rows: r, Started: now})
		}
		snaps = append(snaps, snap)
	}
	return facts.FromSnapshots(now, snaps, clusterOf)
}

// info is one row of name/value pairs, as an INFO reply gives.
func info(kv ...string) *queries.Rows {
	r := &queries.Rows{Values: [][]any{{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Columns = append(r.Columns, kv[i])
		r.Values[0] = append(r.Values[0], kv[i+1])
	}
	return r
}

// dataNode is a healthy seed node: 1 GiB of 1536 MiB used, allkeys-lru, saves ok; the
// overrides replace INFO fields.
func dataNode(name string, role queries.Role, overrides ...string) redisServer {
	fields := map[string]string{
		"used_memory": "1073741824", "used_memory_rss": "1181116006", "maxmemory": "1610612736",
		"mem_fragmentation_ratio": "1.10", "evicted_keys": "0", "uptime_in_seconds": "86400",
		"active_defrag_running": "0", "rdb_last_bgsave_status": "ok", "rdb_last_save_time": "1764230400",
		"rdb_changes_since_last_save": "12", "aof_enabled": "0", "aof_last_bgrewrite_status": "ok",
		"aof_last_write_status": "ok", "connected_slaves": "2", "master_repl_offset": "1000000",
	}
	policy := "allkeys-lru"
	for i := 0; i+1 < len(overrides); i += 2 {
		if overrides[i] == "maxmemory_policy" {
			policy = overrides[i+1]
			continue
		}
		fields[overrides[i]] = overrides[i+1]
	}
	var kv []string
	for k, v := range fields {
		kv = append(kv, k, v)
	}
	redisRole := "master"
	if role == queries.RoleReplica {
		redisRole = "slave"
	}
	return redisServer{name: name, role: role, rows: map[string]*queries.Rows{
		"redis_info":          info(kv...),
		"redis_instance_info": info("role", redisRole, "maxmemory_policy", policy, "info", "1"),
	}}
}

func evaluateRedis(t *testing.T, cfg advisor.Config, check string, servers ...redisServer) []advisor.Finding {
	t.Helper()
	return evaluate(t, redisSnapshot(servers...), cfg, nil, check)
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
	used := func(mib int) string { return strconv.Itoa(mib << 20) }
	none(t, "1 GiB of 1536 MiB", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary)))
	none(t, "84 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "used_memory", used(1290))))
	only(t, "86 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "used_memory", used(1321))), advisor.Warning, "memory")
	f := only(t, "96 %", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "used_memory", used(1475))), advisor.Critical, "memory")
	if !strings.Contains(f.Fix.Text, "1536mb") {
		t.Errorf("the fix should name the current maxmemory: %+v", f.Fix)
	}
	f = only(t, "no maxmemory", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "maxmemory", "0")), advisor.Warning, "maxmemory")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "maxmemory 1536mb") {
		t.Errorf("no maxmemory: the fix should set the seed's 1536mb: %+v", f.Fix)
	}

	// evictions under allkeys-lru: sessions go for cache entries
	fs := evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "evicted_keys", "17"))
	f = only(t, "evictions under allkeys-lru", fs, advisor.Warning, "maxmemory-policy")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "volatile-ttl") || !strings.Contains(f.Fix.Text, "volatile-lru") ||
		!strings.Contains(f.Fix.Text, "raise maxmemory") || !strings.Contains(f.Fix.Why, "session:") || !strings.Contains(f.Fix.Why, "tq_info: 300 s") {
		t.Errorf("evictions: the fix should name volatile-ttl (not volatile-lru) or a larger maxmemory, and why: %+v", f.Fix)
	}
	if f.Window == nil || !f.Window.From.Equal(now.Add(-24*time.Hour)) {
		t.Errorf("evictions are counted since the server started: window %+v", f.Window)
	}
	none(t, "evictions under volatile-ttl", evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "evicted_keys", "17", "maxmemory_policy", "volatile-ttl")))
	// a full cache that evicts: both findings
	fs = evaluateRedis(t, cfg, "redis_memory", dataNode("r", queries.RolePrimary, "evicted_keys", "17", "used_memory", used(1530)))
	if len(fs) != 2 || fs[0].Object != "memory" || fs[0].Severity != advisor.Critical || fs[1].Object != "maxmemory-policy" {
		t.Errorf("full and evicting: %+v", fs)
	}
}

// audit is the cache-namespace audit of a primary: namespaces as
// "prefix keys sampled ttl_sampled no_ttl_ratio over_policy_ratio policy_seconds".
func audit(dbKeys float64, namespaces [][]any, ttl ...[]any) redisServer {
	s := dataNode("p", queries.RolePrimary)
	s.rows["redis_cache_namespace"] = rows("prefix keys sampled_keys ttl_sampled_keys no_ttl_ratio over_policy_ratio ttl_policy_seconds", namespaces...)
	s.rows["redis_cache_namespace_audit"] = rows("db_keys scanned_keys coverage_ratio complete budget_exhausted spent_seconds calls",
		[]any{int64(dbKeys), int64(dbKeys), 1.0, int64(1), int64(0), 0.01, int64(5)})
	s.rows["redis_cache_namespace_ttl"] = rows("prefix ttl_le keys sampled_keys", ttl...)
	return s
}

func TestRedisTTLPolicy(t *testing.T) {
	cfg := advisor.DefaultConfig()
	healthy := [][]any{
		{"session:", 500.0, int64(500), int64(500), 0.0, 0.0, 3600.0},
		{"wf_meta:", 300.0, int64(300), int64(300), 0.0, 0.0, 600.0},
		{"tq_info:", 150.0, int64(150), int64(150), 0.0, 0.0, 300.0},
	}
	none(t, "every key with its TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, healthy)))

	// a fifth of the sessions without a TTL
	leak := [][]any{healthy[0], healthy[1], healthy[2]}
	leak[0] = []any{"session:", 500.0, int64(500), int64(500), 0.2, 0.0, 3600.0}
	f := only(t, "sessions without a TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, leak)), advisor.Warning, "session:")
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
	leak[0] = []any{"session:", 500.0, int64(500), int64(500), 0.002, 0.0, 3600.0}
	only(t, "one session without a TTL", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, leak)), advisor.Warning, "session:")

	// TTLs above the audit's policy
	over := [][]any{healthy[0], {"wf_meta:", 300.0, int64(300), int64(300), 0.0, 0.1, 600.0}, healthy[2]}
	f = only(t, "wf_meta over policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, over)), advisor.Warning, "wf_meta:")
	if !strings.Contains(f.Summary, "10% have a TTL above the policy's 10 min") {
		t.Errorf("summary %q", f.Summary)
	}

	// the advisor's policy is stricter than the audit's: the histogram tells
	cfg.Thresholds.RedisTTLPolicy = map[string]time.Duration{"wf_meta:": 5 * time.Minute}
	hist := [][]any{
		{"wf_meta:", "60", 10.0, int64(10)}, {"wf_meta:", "300", 150.0, int64(150)},
		{"wf_meta:", "600", 300.0, int64(300)}, {"wf_meta:", "+Inf", 300.0, int64(300)},
	}
	f = only(t, "wf_meta over a 5 min policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, healthy, hist...)), advisor.Warning, "wf_meta:")
	if !strings.Contains(f.Summary, "50% have a TTL above the policy's 5 min") {
		t.Errorf("summary %q", f.Summary)
	}
	cfg.Thresholds.RedisTTLPolicy = map[string]time.Duration{"wf_meta:": 10 * time.Minute}
	none(t, "wf_meta within a 10 min policy", evaluateRedis(t, cfg, "redis_ttl_policy", audit(1000, healthy, hist...)))

	// a namespace with no key in the sample says nothing
	empty := [][]any{{"session:", 0.0, int64(0), int64(0), nil, nil, 3600.0}}
	none(t, "empty namespace", evaluateRedis(t, advisor.DefaultConfig(), "redis_ttl_policy", audit(0, empty)))
}

func TestRedisFragmentation(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "ratio 1.1", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary)))
	none(t, "ratio 1.5", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, "mem_fragmentation_ratio", "1.5")))
	none(t, "ratio 4 on 10 MiB", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, "mem_fragmentation_ratio", "4", "used_memory", "10485760")))
	f := only(t, "ratio 1.8 on a primary", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, "mem_fragmentation_ratio", "1.8")), advisor.Warning, "fragmentation")
	if f.Fix.Kind != "setting" || !strings.Contains(f.Fix.Text, "activedefrag yes") || !strings.Contains(f.Fix.Text, "restart a replica first") {
		t.Errorf("primary: %+v", f.Fix)
	}
	f = only(t, "ratio 1.8 on a replica", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RoleReplica, "mem_fragmentation_ratio", "1.8")), advisor.Warning, "fragmentation")
	if !strings.Contains(f.Fix.Text, "restart this replica") {
		t.Errorf("replica: %+v", f.Fix)
	}
	only(t, "ratio 0.7: swapping", evaluateRedis(t, cfg, "redis_fragmentation", dataNode("r", queries.RolePrimary, "mem_fragmentation_ratio", "0.7")), advisor.Warning, "fragmentation")
}

func TestRedisPersistence(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "saves ok", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary)))
	f := only(t, "bgsave failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary, "rdb_last_bgsave_status", "err")), advisor.Critical, "rdb")
	if !strings.Contains(f.Fix.Text, "free space and permissions") || !strings.Contains(f.Fix.Why, "stop-writes-on-bgsave-error") {
		t.Errorf("fix %+v", f.Fix)
	}
	only(t, "AOF write failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RoleReplica, "aof_enabled", "1", "aof_last_write_status", "err")), advisor.Critical, "aof")
	only(t, "AOF rewrite failed", evaluateRedis(t, cfg, "redis_persistence", dataNode("r", queries.RolePrimary, "aof_last_bgrewrite_status", "err")), advisor.Critical, "aof")
}

func replica(link, lastIO string) redisServer {
	s := dataNode("replica", queries.RoleReplica)
	s.rows["redis_replica"] = info("master_host", "10.0.0.1", "master_port", "6379", "master_link_status", link,
		"master_last_io_seconds_ago", lastIO, "master_sync_in_progress", "0", "slave_repl_offset", "1000000")
	// the server reports master_link_down_since_seconds only while the link is down: NULL
	var since any
	if link == "down" {
		since = "120"
	}
	s.rows["redis_replica"].Columns = append(s.rows["redis_replica"].Columns, "master_link_down_since_seconds")
	s.rows["redis_replica"].Values[0] = append(s.rows["redis_replica"].Values[0], since)
	return s
}

func primary(connected string, replicas ...[]any) redisServer {
	s := dataNode("primary", queries.RolePrimary, "connected_slaves", connected, "master_repl_offset", "300000000")
	s.rows["redis_connected_slave"] = rows("slave_ip slave_port slave_state slave_offset slave_lag", replicas...)
	return s
}

func TestRedisReplication(t *testing.T) {
	cfg := advisor.DefaultConfig()
	none(t, "replica linked", evaluateRedis(t, cfg, "redis_replication", replica("up", "1")))
	f := only(t, "link down", evaluateRedis(t, cfg, "redis_replication", replica("down", "-1")), advisor.Critical, "master_link")
	if f.Target != "replica" || !strings.Contains(f.Summary, "10.0.0.1:6379 is down since 2 min") || !strings.Contains(f.Fix.Text, "redis-cli -h 10.0.0.1 -p 6379 PING") {
		t.Errorf("link down: %+v", f)
	}
	only(t, "silent primary", evaluateRedis(t, cfg, "redis_replication", replica("up", "45")), advisor.Warning, "master_link")

	behind := func(b int) string { return strconv.Itoa(300000000 - b) }
	ok := []any{"10.0.0.2", "6379", "online", behind(1000), "0"}
	none(t, "two replicas in step", evaluateRedis(t, cfg, "redis_replication", primary("2", ok, []any{"10.0.0.3", "6379", "online", behind(1 << 20), "1"})))
	f = only(t, "one replica 2 MiB behind", evaluateRedis(t, cfg, "redis_replication",
		primary("2", ok, []any{"10.0.0.3", "6379", "online", behind(2 << 20), "0"})), advisor.Warning, "replica:10.0.0.3:6379")
	if !strings.Contains(f.Summary, "2.0 MiB behind") {
		t.Errorf("summary %q", f.Summary)
	}
	only(t, "one replica 200 MiB behind", evaluateRedis(t, cfg, "redis_replication",
		primary("2", ok, []any{"10.0.0.3", "6379", "online", behind(200 << 20), "0"})), advisor.Critical, "replica:10.0.0.3:6379")
	only(t, "one replica syncing", evaluateRedis(t, cfg, "redis_replication",
		primary("2", ok, []any{"10.0.0.3", "6379", "wait_bgsave", "0", "0"})), advisor.Critical, "replica:10.0.0.3:6379")
	only(t, "one replica silent", evaluateRedis(t, cfg, "redis_replication",
		primary("2", ok, []any{"10.0.0.3", "6379", "online", behind(0), "40"})), advisor.Warning, "replica:10.0.0.3:6379")
	only(t, "one of two replicas", evaluateRedis(t, cfg, "redis_replication", primary("1", ok)), advisor.Warning, "replicas")
	cfg.Thresholds.RedisReplicas = 1
	none(t, "one of one replica", evaluateRedis(t, cfg, "redis_replication", primary("1", ok)))
}

// sentinel is a sentinel's view of mymaster: the primary's address, the sentinels it sees
// (itself included), the quorum, and its replicas as "address link s_down disconnected".
func sentinel(name, address string, sentinels, quorum int, replicas ...[]any) redisServer {
	return redisServer{name: name, role: queries.RoleSentinel, rows: map[string]*queries.Rows{
		"redis_sentinel": info("sentinel_masters", "1", "sentinel_tilt", "0"),
		"redis_sentinel_master": rows("master_name master_status master_address master_slaves master_sentinels",
			[]any{"mymaster", "ok", address, strconv.Itoa(len(replicas)), strconv.Itoa(sentinels)}),
		"redis_sentinel_master_settings": rows("master_name master_address master_quorum master_config_epoch master_s_down master_o_down",
			[]any{"mymaster", address, strconv.Itoa(quorum), "3", int64(0), int64(0)}),
		"redis_sentinel_replica":  rows("master_name replica_address replica_master_link_status replica_s_down replica_disconnected", prepend("mymaster", replicas)...),
		"redis_sentinel_ckquorum": rows("master_name ok message", []any{"mymaster", int64(1), "OK 3 usable Sentinels. Quorum and failover authorization can be reached"}),
	}}
}

func prepend(v any, rs [][]any) [][]any {
	out := make([][]any, len(rs))
	for i, r := range rs {
		out[i] = append([]any{v}, r...)
	}
	return out
}

func TestRedisSentinel(t *testing.T) {
	cfg := advisor.DefaultConfig()
	r1 := []any{"10.0.0.2:6379", "ok", int64(0), int64(0)}
	r2 := []any{"10.0.0.3:6379", "ok", int64(0), int64(0)}
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
		sentinel("s0", p, 3, 2, []any{"10.0.0.2:6379", "err", int64(0), int64(0)}, []any{"10.0.0.3:6379", "ok", int64(1), int64(0)})), advisor.Critical, "master:mymaster")
	if !strings.Contains(f.Summary, "no healthy replica to fail over to (2 known)") {
		t.Errorf("%+v", f)
	}
	only(t, "one of two replicas", evaluateRedis(t, cfg, "redis_sentinel", sentinel("s0", p, 3, 2, r1)), advisor.Warning, "master:mymaster")
	s := sentinel("s0", p, 3, 2, r1, r2)
	s.rows["redis_sentinel_ckquorum"] = rows("master_name ok message", []any{"mymaster", int64(0), "NOQUORUM 1 usable Sentinels"})
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
	a.cluster, b.cluster = "east", "west"
	none(t, "two deployments", evaluateRedis(t, cfg, "redis_sentinel", a, b))
}
