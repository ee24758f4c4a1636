package facts

import (
	"math"
	"strconv"
)

// Redis facts: what the Redis pack's queries (queries/packs/redis.yaml) read from a data node
// (INFO, the cache-namespace audit) or a sentinel. INFO values arrive as Redis sends them,
// mostly text: these functions turn them into numbers.

// rstatus reads a status column: "ok" (or "up", or a mapped 1) is true.
func rstatus(r *Rows, i int, col string, ok ...string) bool {
	if v, isNum := r.Num(i, col); isNum {
		return v != 0
	}
	s := r.Str(i, col)
	for _, o := range ok {
		if s == o {
			return true
		}
	}
	return false
}

// RedisFacts are a Redis target's facts: a data node's or a sentinel's.
type RedisFacts struct {
	// RedisInfo is the node's INFO (redis_info, with maxmemory_policy from
	// redis_instance_info), nil when redis_info is not available.
	RedisInfo *RedisInfo
	// RedisReplicaLink is a replica's link to its primary, nil without redis_replica.
	RedisReplicaLink *RedisReplicaLink
	// RedisConnectedReplicas are the replicas connected to the node.
	RedisConnectedReplicas []RedisConnectedReplica
	// RedisAudit is the cache-namespace audit (redis_cache_namespace, with
	// redis_cache_namespace_audit and redis_cache_namespace_ttl when available), nil without
	// one.
	RedisAudit *RedisAudit
	// RedisSentinel is what a sentinel target sees (redis_sentinel_master, with the quorum and
	// flags of redis_sentinel_master_settings, the replicas of redis_sentinel_replica and the
	// answer of redis_sentinel_ckquorum), nil without redis_sentinel_master.
	RedisSentinel *RedisSentinel
}

// redis decodes the Redis facts.
func (d *decoder) redis() {
	t := d.t
	t.RedisInfo, t.RedisReplicaLink = d.redisInfo(), d.redisReplicaLink()
	t.RedisConnectedReplicas = d.redisConnectedReplicas()
	t.RedisAudit, t.RedisSentinel = d.redisAudit(), d.redisSentinel()
}

// RedisInfo is a Redis data node's INFO: memory, persistence and replication.
type RedisInfo struct {
	Role string // primary or replica (the probe's role)
	// Memory.
	UsedMemory, UsedMemoryRSS, MaxMemory float64
	FragmentationRatio                   float64
	MaxmemoryPolicy                      string // from redis_instance_info; "" when unknown
	// RunID is the server process's run_id (redis_instance_info): two targets with one run_id
	// watch the same server (an address and a sentinel master name, say).
	RunID               string
	EvictedKeys         float64
	ActiveDefragRunning bool
	// Uptime is seconds since the server started: the window of the counters.
	Uptime float64
	// Persistence.
	RDBLastBgsaveStatus    string // "ok" or "err"
	RDBLastSaveTime        float64
	RDBChangesSinceSave    float64
	AOFEnabled             bool
	AOFLastBgrewriteStatus string
	AOFLastWriteStatus     string
	// Replication.
	ConnectedReplicas float64
	MasterReplOffset  float64
}

func (d *decoder) redisInfo() *RedisInfo {
	in := first(d.rows("redis_info"), func(r *Rows) RedisInfo {
		return RedisInfo{
			Role:                   string(d.t.Role),
			UsedMemory:             r.Float(0, "used_memory"),
			UsedMemoryRSS:          r.Float(0, "used_memory_rss"),
			MaxMemory:              r.Float(0, "maxmemory"),
			FragmentationRatio:     r.Float(0, "mem_fragmentation_ratio"),
			EvictedKeys:            r.Float(0, "evicted_keys"),
			ActiveDefragRunning:    r.Float(0, "active_defrag_running") != 0,
			Uptime:                 r.Float(0, "uptime_in_seconds"),
			RDBLastBgsaveStatus:    status(r, "rdb_last_bgsave_status"),
			RDBLastSaveTime:        r.Float(0, "rdb_last_save_time"),
			RDBChangesSinceSave:    r.Float(0, "rdb_changes_since_last_save"),
			AOFEnabled:             r.Float(0, "aof_enabled") != 0,
			AOFLastBgrewriteStatus: status(r, "aof_last_bgrewrite_status"),
			AOFLastWriteStatus:     status(r, "aof_last_write_status"),
			ConnectedReplicas:      r.Float(0, "connected_slaves"),
			MasterReplOffset:       r.Float(0, "master_repl_offset"),
		}
	})
	type instance struct{ policy, runID string }
	inst := first(d.rows("redis_instance_info"), func(r *Rows) instance {
		return instance{r.Str(0, "maxmemory_policy"), r.Str(0, "run_id")}
	})
	if in != nil && inst != nil {
		in.MaxmemoryPolicy, in.RunID = inst.policy, inst.runID
	}
	return in
}

// status reads an ok/err INFO field as text ("ok", "err"; a mapped 1/0 as ok/err).
func status(r *Rows, col string) string {
	if v, ok := r.Num(0, col); ok {
		if v != 0 {
			return "ok"
		}
		return "err"
	}
	return r.Str(0, col)
}

// RedisReplicaLink is a replica's link to its primary (redis_replica).
type RedisReplicaLink struct {
	MasterHost, MasterPort string
	LinkUp                 bool
	LastIOSecondsAgo       float64 // -1 while the link is down
	SyncInProgress         bool
	SlaveReplOffset        float64
	// LinkDownSince is the seconds the link has been down; HasLinkDownSince says whether the
	// server reported it (only while the link is down).
	LinkDownSince    float64
	HasLinkDownSince bool
}

func (d *decoder) redisReplicaLink() *RedisReplicaLink {
	return first(d.rows("redis_replica"), func(r *Rows) RedisReplicaLink {
		l := RedisReplicaLink{
			MasterHost:       r.Str(0, "master_host"),
			MasterPort:       r.Str(0, "master_port"),
			LinkUp:           rstatus(r, 0, "master_link_status", "up"),
			LastIOSecondsAgo: r.Float(0, "master_last_io_seconds_ago"),
			SyncInProgress:   r.Float(0, "master_sync_in_progress") != 0,
			SlaveReplOffset:  r.Float(0, "slave_repl_offset"),
		}
		l.LinkDownSince, l.HasLinkDownSince = r.Num(0, "master_link_down_since_seconds")
		return l
	})
}

// RedisConnectedReplica is a replica as its primary sees it (redis_connected_slave).
type RedisConnectedReplica struct {
	IP, Port, State string
	Offset          float64 // the offset the replica acknowledged
	Lag             float64 // seconds since its last acknowledgement
}

// Addr is ip:port.
func (c RedisConnectedReplica) Addr() string { return c.IP + ":" + c.Port }

func (d *decoder) redisConnectedReplicas() []RedisConnectedReplica {
	return each(d.rows("redis_connected_slave"), func(r *Rows, i int) RedisConnectedReplica {
		return RedisConnectedReplica{
			IP: r.Str(i, "slave_ip"), Port: r.Str(i, "slave_port"), State: r.Str(i, "slave_state"),
			Offset: r.Float(i, "slave_offset"), Lag: r.Float(i, "slave_lag"),
		}
	})
}

// RedisTTLBucket is one bucket of a namespace's TTL histogram: keys of the sample whose TTL
// is at most LE seconds (+Inf: all keys with a TTL).
type RedisTTLBucket struct {
	LE      float64
	Sampled float64
}

// RedisNamespace is one cache namespace (key prefix) as the audit saw it.
type RedisNamespace struct {
	Prefix string
	// Keys is the estimated number of keys with the prefix (HasKeys: whether there is one).
	Keys    float64
	HasKeys bool
	// SampledKeys are the keys of the sample with the prefix; TTLSampled those whose TTL the
	// audit read.
	SampledKeys, TTLSampled float64
	// NoTTLRatio is the share of TTLSampled without a TTL.
	NoTTLRatio float64
	// Policy is the audit's TTL policy in seconds (0: none); OverPolicyRatio the share of
	// TTLSampled above it.
	Policy          float64
	OverPolicyRatio float64
	// Buckets is the TTL histogram (cumulative, ascending LE, the last +Inf), from
	// redis_cache_namespace_ttl when available.
	Buckets []RedisTTLBucket
}

// RedisAudit is one run of the cache-namespace audit.
type RedisAudit struct {
	DBKeys, ScannedKeys, Coverage float64
	Complete                      bool
	Namespaces                    []RedisNamespace
}

func (d *decoder) redisAudit() *RedisAudit {
	r := d.rows("redis_cache_namespace")
	if r == nil {
		return nil
	}
	a := value(first(d.rows("redis_cache_namespace_audit"), func(run *Rows) RedisAudit {
		return RedisAudit{DBKeys: run.Float(0, "db_keys"), ScannedKeys: run.Float(0, "scanned_keys"),
			Coverage: run.Float(0, "coverage_ratio"), Complete: run.Float(0, "complete") != 0}
	}))
	buckets := map[string][]RedisTTLBucket{}
	forEach(d.rows("redis_cache_namespace_ttl"), func(h *Rows, i int) {
		le := math.Inf(1)
		if s := h.Str(i, "ttl_le"); s != "+Inf" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return
			}
			le = v
		}
		p := h.Str(i, "prefix")
		buckets[p] = append(buckets[p], RedisTTLBucket{LE: le, Sampled: h.Float(i, "sampled_keys")})
	})
	a.Namespaces = each(r, func(r *Rows, i int) RedisNamespace {
		n := RedisNamespace{
			Prefix:          r.Str(i, "prefix"),
			SampledKeys:     r.Float(i, "sampled_keys"),
			TTLSampled:      r.Float(i, "ttl_sampled_keys"),
			NoTTLRatio:      r.Float(i, "no_ttl_ratio"),
			Policy:          r.Float(i, "ttl_policy_seconds"),
			OverPolicyRatio: r.Float(i, "over_policy_ratio"),
		}
		n.Keys, n.HasKeys = r.Num(i, "keys")
		n.Buckets = buckets[n.Prefix]
		return n
	})
	return &a
}

// RedisSentinelMaster is a master a sentinel monitors, as that sentinel sees it.
type RedisSentinelMaster struct {
	Name    string
	Address string // ip:port of the primary
	Status  string // ok, sdown, odown
	Quorum  float64
	// ConfigEpoch is bumped by each failover: the higher, the newer the configuration.
	ConfigEpoch float64
	// Sentinels are the sentinels watching the master, this one included; Replicas the
	// replicas the sentinel knows.
	Sentinels, Replicas float64
	SDown, ODown        bool
	// HealthyReplicas are the known replicas that are neither down nor disconnected and
	// whose link to the primary is up (from redis_sentinel_replica).
	HealthyReplicas float64
	ReplicaStates   []string // address: state, for the evidence
	// CKQuorum is SENTINEL CKQUORUM's answer (HasCKQuorum: whether the sentinel answered).
	CKQuorumOK  bool
	CKQuorumMsg string
	HasCKQuorum bool
}

// RedisSentinel is a sentinel's own state and its masters.
type RedisSentinel struct {
	Tilt    bool
	Masters []RedisSentinelMaster
}

func (d *decoder) redisSentinel() *RedisSentinel {
	r := d.rows("redis_sentinel_master")
	if r == nil {
		return nil
	}
	var s RedisSentinel
	s.Tilt = value(first(d.rows("redis_sentinel"), func(in *Rows) bool { return in.Float(0, "sentinel_tilt") != 0 }))
	byName := map[string]int{}
	s.Masters = each(r, func(r *Rows, i int) RedisSentinelMaster {
		return RedisSentinelMaster{
			Name: r.Str(i, "master_name"), Address: r.Str(i, "master_address"), Status: r.Str(i, "master_status"),
			Sentinels: r.Float(i, "master_sentinels"), Replicas: r.Float(i, "master_slaves"),
		}
	})
	for i, m := range s.Masters {
		byName[m.Name] = i
	}
	forEach(d.rows("redis_sentinel_master_settings"), func(st *Rows, i int) {
		if j, ok := byName[st.Str(i, "master_name")]; ok {
			m := &s.Masters[j]
			m.Quorum = st.Float(i, "master_quorum")
			m.ConfigEpoch = st.Float(i, "master_config_epoch")
			m.SDown = st.Float(i, "master_s_down") != 0
			m.ODown = st.Float(i, "master_o_down") != 0
		}
	})
	forEach(d.rows("redis_sentinel_replica"), func(rp *Rows, i int) {
		j, ok := byName[rp.Str(i, "master_name")]
		if !ok {
			return
		}
		m := &s.Masters[j]
		link := rstatus(rp, i, "replica_master_link_status", "ok")
		sdown := rp.Float(i, "replica_s_down") != 0
		disc := rp.Float(i, "replica_disconnected") != 0
		state := "ok"
		switch {
		case sdown:
			state = "down (s_down)"
		case disc:
			state = "disconnected"
		case !link:
			state = "link to the primary down"
		default:
			m.HealthyReplicas++
		}
		m.ReplicaStates = append(m.ReplicaStates, rp.Str(i, "replica_address")+": "+state)
	})
	forEach(d.rows("redis_sentinel_ckquorum"), func(ck *Rows, i int) {
		if j, ok := byName[ck.Str(i, "master_name")]; ok {
			m := &s.Masters[j]
			m.HasCKQuorum = true
			m.CKQuorumOK = ck.Float(i, "ok") != 0
			m.CKQuorumMsg = ck.Str(i, "message")
		}
	})
	return &s
}
