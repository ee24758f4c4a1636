package advisor

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The Redis checks read the Redis pack's results (queries/packs/redis.yaml) through
// facts/redis.go. Their defaults are the seed deployment's: maxmemory 1536mb with
// allkeys-lru, three TTL caches (session: 3600 s, wf_meta: 600 s, tq_info: 300 s), RDB
// snapshots with stop-writes-on-bgsave-error, a primary with two replicas and three
// sentinels.

var dataNode = []string{string(queries.RolePrimary), string(queries.RoleReplica)}

func redisNeed(query string, roles ...string) Need {
	return Need{Kind: queries.SourceRedis, Query: query, Roles: roles}
}

// redisSize writes bytes the way redis.conf takes them (1mb is 1024*1024 bytes there).
func redisSize(b float64) string {
	switch {
	case b >= 1<<30 && math.Mod(b, 1<<30) == 0:
		return fmt.Sprintf("%.0fgb", b/(1<<30))
	case b >= 1<<20 && math.Mod(b, 1<<20) == 0:
		return fmt.Sprintf("%.0fmb", b/(1<<20))
	}
	return fmt.Sprintf("%.0f", b)
}

// sinceStart is the window of a counter since the server started.
func sinceStart(at time.Time, uptime float64) *Window {
	w := &Window{To: at, Basis: "since the server started"}
	if uptime > 0 {
		w.From = at.Add(-time.Duration(uptime * float64(time.Second)))
	}
	return w
}

// redisChecks are the checks of this file, in report order.
func redisChecks() []Check {
	sentinel := string(queries.RoleSentinel)
	return []Check{
		check{"redis_memory", "Redis memory against maxmemory, and evictions",
			[]Need{redisNeed("redis_info", dataNode...), redisNeed("redis_instance_info", dataNode...)}, redisMemory},
		// the keyspace of a replica is its primary's: the primary's audit is enough
		check{"redis_ttl_policy", "Redis cache namespaces: keys without a TTL or with one above the namespace's policy",
			[]Need{redisNeed("redis_cache_namespace", string(queries.RolePrimary))}, redisTTLPolicy},
		check{"redis_fragmentation", "Redis memory fragmentation", []Need{redisNeed("redis_info", dataNode...)}, redisFragmentation},
		check{"redis_persistence", "Redis RDB snapshots and AOF writes failing", []Need{redisNeed("redis_info", dataNode...)}, redisPersistence},
		check{"redis_replication", "Redis replicas: link to the primary, lag", []Need{
			redisNeed("redis_replica", string(queries.RoleReplica)),
			redisNeed("redis_info", string(queries.RolePrimary)),
			redisNeed("redis_connected_slave", string(queries.RolePrimary)),
		}, redisReplication},
		check{"redis_sentinel", "Redis sentinels: quorum, replicas to fail over to, agreement on the primary",
			[]Need{redisNeed("redis_sentinel_master", sentinel), redisNeed("redis_sentinel_master_settings", sentinel),
				redisNeed("redis_sentinel_replica", sentinel), redisNeed("redis_sentinel_ckquorum", sentinel)}, redisSentinel},
	}
}

// ---------------------------------------------------------------- redis_memory

func redisMemory(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range c.Eligible {
		in, ok := t.RedisInfo, t.RedisInfo != nil
		if !ok {
			continue
		}
		usage := []Evidence{{"used_memory", humanBytes(in.UsedMemory)}, {"maxmemory", humanBytes(in.MaxMemory)},
			{"maxmemory-policy", in.MaxmemoryPolicy}}
		if in.MaxMemory <= 0 {
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "maxmemory",
				Summary:  fmt.Sprintf("no maxmemory: the server uses %s and grows until the host runs out of memory", humanBytes(in.UsedMemory)),
				Evidence: usage[:1],
				Fix: Fix{Kind: "setting", Text: fmt.Sprintf("CONFIG SET maxmemory %[1]s, and maxmemory %[1]s in redis.conf (the deployment's setting)", redisSize(float64(th.RedisMaxmemory))),
					Why: "without maxmemory the eviction policy never acts: a cache that keeps growing ends in the OOM killer (and a lost dataset), not in evictions"},
			})
		} else if use := in.UsedMemory / in.MaxMemory; use >= th.RedisMemoryWarning {
			sev := Warning
			if use >= th.RedisMemoryCritical {
				sev = Critical
			}
			fix := Fix{Kind: "setting",
				Text: fmt.Sprintf("raise maxmemory above %s if the host has the memory (CONFIG SET maxmemory, and redis.conf), or find what fills it: the redis_ttl_policy findings, redis-cli --bigkeys on a replica", redisSize(in.MaxMemory)),
				Why:  fmt.Sprintf("at maxmemory, %s decides what happens to the next write", in.MaxmemoryPolicy)}
			if in.MaxmemoryPolicy == "noeviction" {
				fix.Why = "under noeviction, writes fail with OOM errors once used_memory reaches maxmemory"
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: "memory",
				Summary:  fmt.Sprintf("%s of %s maxmemory in use (%s)", humanBytes(in.UsedMemory), humanBytes(in.MaxMemory), pct(use)),
				Evidence: usage, Fix: fix, size: use,
			})
		}
		if in.EvictedKeys > 0 && strings.HasPrefix(in.MaxmemoryPolicy, "allkeys-") {
			short := shortLived(th.RedisTTLPolicy)
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "maxmemory-policy",
				Summary: fmt.Sprintf("%.0f keys evicted under %s, which evicts session: keys along with cache entries",
					in.EvictedKeys, in.MaxmemoryPolicy),
				Evidence: append([]Evidence{{"evicted_keys", fmt.Sprintf("%.0f", in.EvictedKeys)}}, usage...),
				Window:   sinceStart(c.Facts.At, in.Uptime),
				Fix: Fix{Kind: "setting",
					Text: fmt.Sprintf("raise maxmemory above %s so that nothing is evicted, or CONFIG SET maxmemory-policy volatile-ttl (and in redis.conf) so that the keys nearest to expiry go first — not volatile-lru, which treats session keys like any other key with a TTL", redisSize(in.MaxMemory)),
					Why: fmt.Sprintf("%s evicts any key, session: keys included: a user loses the session for a cache entry that can be rebuilt. "+
						"Sessions carry a TTL too, so volatile-lru would still evict them; volatile-ttl evicts the short-lived cache entries (%s) first. "+
						"Under a volatile-* policy keys without a TTL are never evicted: fix redis_ttl_policy findings first", in.MaxmemoryPolicy, short)},
			})
		}
	}
	return out
}

// shortLived lists the cache namespaces of a TTL policy, shortest TTL first.
func shortLived(policy map[string]time.Duration) string {
	type ns struct {
		p string
		d time.Duration
	}
	var l []ns
	for p, d := range policy {
		l = append(l, ns{p, d})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].d < l[j].d || l[i].d == l[j].d && l[i].p < l[j].p })
	parts := make([]string, len(l))
	for i, n := range l {
		parts[i] = fmt.Sprintf("%s %.0f s", n.p, n.d.Seconds())
	}
	return strings.Join(parts, ", ")
}

// ---------------------------------------------------------------- redis_ttl_policy

func redisTTLPolicy(c *Context) []Finding {
	policy := c.Config.Thresholds.RedisTTLPolicy
	var out []Finding
	for _, t := range c.Eligible {
		a, ok := t.RedisAudit, t.RedisAudit != nil
		if !ok {
			continue
		}
		for _, n := range a.Namespaces {
			if n.TTLSampled <= 0 {
				continue
			}
			limit := n.Policy
			if d, ok := policy[n.Prefix]; ok && d > 0 {
				limit = d.Seconds()
			}
			noTTL := n.NoTTLRatio * n.TTLSampled
			over, overExact := overPolicy(n, limit)
			if noTTL < 0.5 && over <= 0 {
				continue
			}
			ev := []Evidence{
				{"keys (estimated)", fmt.Sprintf("%.0f", n.Keys)},
			}
			if a.DBKeys > 0 && n.HasKeys {
				ev = append(ev, Evidence{"share of the keyspace", fmt.Sprintf("%s of %.0f keys", pct(n.Keys/a.DBKeys), a.DBKeys)})
			}
			ev = append(ev, Evidence{"keys whose TTL was sampled", fmt.Sprintf("%.0f", n.TTLSampled)})
			var problems []string
			if noTTL >= 0.5 {
				problems = append(problems, fmt.Sprintf("%s of the sampled keys have no TTL (%.0f of %.0f)", pct(n.NoTTLRatio), noTTL, n.TTLSampled))
				ev = append(ev, Evidence{"without a TTL", fmt.Sprintf("%.0f (%s)", noTTL, pct(n.NoTTLRatio))})
			}
			if over > 0 {
				at := ""
				if !overExact {
					at = "at least "
				}
				problems = append(problems, fmt.Sprintf("%s%s have a TTL above the policy's %s", at, pct(over), humanDuration(limit)))
				ev = append(ev, Evidence{"TTL above the policy", fmt.Sprintf("%s%.0f (%s)", at, over*n.TTLSampled, pct(over))})
			}
			if limit > 0 {
				ev = append(ev, Evidence{"policy", fmt.Sprintf("%.0f s", limit)})
			}
			basis := fmt.Sprintf("a sample of %.0f of %.0f keys (coverage %s)", a.ScannedKeys, a.DBKeys, pct(a.Coverage))
			if a.Complete {
				basis = "every key of the database"
			}
			ev = append(ev, Evidence{"audit", basis})
			ttl := "the namespace's TTL"
			if limit > 0 {
				ttl = fmt.Sprintf("%.0f", limit)
			}
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: n.Prefix,
				Summary:  fmt.Sprintf("cache namespace %s: %s", n.Prefix, strings.Join(problems, "; ")),
				Evidence: ev, size: noTTL + over*n.TTLSampled,
				Fix: Fix{Kind: "action",
					Text: fmt.Sprintf("write %[1]s keys with their TTL (SET key value EX %[2]s, or EXPIRE right after writing, in one MULTI), and expire the keys already there: redis-cli --scan --pattern '%[1]s*' then EXPIRE key %[2]s for those whose TTL is -1 or above it", n.Prefix, ttl),
					Why:  "a cache key without a TTL (or with a longer one than its namespace's) outlives the data it caches: the namespace grows until maxmemory evicts other keys for it, and under a volatile-* policy it is never evicted at all"},
			})
		}
	}
	return out
}

// overPolicy is the share of a namespace's sampled keys with a TTL above limit seconds: the
// audit's own when its policy is limit, else from the TTL histogram's first bucket at or
// above limit (then a lower bound: exact is false).
func overPolicy(n facts.RedisNamespace, limit float64) (share float64, exact bool) {
	if limit <= 0 {
		return 0, true
	}
	if n.Policy > 0 && math.Abs(n.Policy-limit) < 0.5 {
		return n.OverPolicyRatio, true
	}
	var all, le float64
	found := false
	for _, b := range n.Buckets {
		if math.IsInf(b.LE, 1) {
			all = b.Sampled
			continue
		}
		if b.LE >= limit && !found {
			le, found, exact = b.Sampled, true, math.Abs(b.LE-limit) < 0.5
		}
	}
	if !found || n.TTLSampled <= 0 {
		return 0, false
	}
	return max(all-le, 0) / n.TTLSampled, exact
}

// ---------------------------------------------------------------- redis_fragmentation

func redisFragmentation(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range c.Eligible {
		in, ok := t.RedisInfo, t.RedisInfo != nil
		if !ok || in.UsedMemory < float64(th.RedisFragmentationMinMemory) || in.FragmentationRatio <= 0 {
			continue
		}
		ev := []Evidence{{"mem_fragmentation_ratio", fmt.Sprintf("%.2f", in.FragmentationRatio)},
			{"used_memory", humanBytes(in.UsedMemory)}, {"used_memory_rss", humanBytes(in.UsedMemoryRSS)}}
		switch {
		case in.FragmentationRatio > th.RedisFragmentation:
			restart := "restart this replica (it reloads its data compactly)"
			if in.Role == string(queries.RolePrimary) {
				restart = "restart a replica first, fail over to it (SENTINEL FAILOVER <master>), then restart this server"
			}
			running := ""
			if in.ActiveDefragRunning {
				running = " (active defragmentation is running now)"
			}
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "fragmentation", size: in.FragmentationRatio,
				Summary:  fmt.Sprintf("resident memory is %.2f× what Redis allocated: %s wasted%s", in.FragmentationRatio, humanBytes(in.UsedMemoryRSS-in.UsedMemory), running),
				Evidence: ev,
				Fix: Fix{Kind: "setting", Text: "CONFIG SET activedefrag yes (and activedefrag yes in redis.conf); if the ratio stays high, " + restart,
					Why: "fragmented memory counts against the host, not against maxmemory: the process can be OOM-killed while Redis thinks it has room. Active defragmentation (jemalloc builds) moves values into full pages while serving"},
			})
		case in.FragmentationRatio < 1:
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "fragmentation", size: 1 / in.FragmentationRatio,
				Summary:  fmt.Sprintf("resident memory is below what Redis allocated (ratio %.2f): part of the dataset is swapped out", in.FragmentationRatio),
				Evidence: ev,
				Fix: Fix{Kind: "action", Text: "give the host more memory or lower maxmemory so that the dataset fits in RAM; turn swap off for Redis hosts",
					Why: "a swapped-out key turns a sub-millisecond read into a disk read, and blocks every other client meanwhile"},
			})
		}
	}
	return out
}

// ---------------------------------------------------------------- redis_persistence

func redisPersistence(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		in, ok := t.RedisInfo, t.RedisInfo != nil
		if !ok {
			continue
		}
		check := "check free space and permissions of the data directory (CONFIG GET dir) and the server log (the line after \"Background saving error\" or \"Write error\" names the cause), fix it"
		if in.RDBLastBgsaveStatus == "err" {
			ev := []Evidence{{"rdb_last_bgsave_status", "err"}, {"rdb_changes_since_last_save", fmt.Sprintf("%.0f", in.RDBChangesSinceSave)}}
			if in.RDBLastSaveTime > 0 {
				ev = append(ev, Evidence{"last successful save", time.Unix(int64(in.RDBLastSaveTime), 0).UTC().Format(time.RFC3339)})
			}
			out = append(out, Finding{
				Severity: Critical, Target: t.Name, Object: "rdb",
				Summary:  fmt.Sprintf("the last RDB snapshot failed; %.0f changes are not on disk", in.RDBChangesSinceSave),
				Evidence: ev,
				Fix: Fix{Kind: "action", Text: check + ", then BGSAVE and check that rdb_last_bgsave_status is ok",
					Why: "with stop-writes-on-bgsave-error yes (the deployment's setting) the server refuses writes until a snapshot succeeds; without it a restart loses everything since the last good snapshot"},
			})
		}
		var aof []string
		if in.AOFLastWriteStatus == "err" {
			aof = append(aof, "the last AOF write failed")
		}
		if in.AOFLastBgrewriteStatus == "err" {
			aof = append(aof, "the last AOF rewrite failed")
		}
		if len(aof) > 0 {
			out = append(out, Finding{
				Severity: Critical, Target: t.Name, Object: "aof",
				Summary:  strings.Join(aof, "; "),
				Evidence: []Evidence{{"aof_last_write_status", in.AOFLastWriteStatus}, {"aof_last_bgrewrite_status", in.AOFLastBgrewriteStatus}},
				Fix: Fix{Kind: "action", Text: check + ", then BGREWRITEAOF and check that aof_last_write_status and aof_last_bgrewrite_status are ok",
					Why: "while AOF writes fail the server refuses writes; a failed rewrite leaves the AOF growing until the disk is full"},
			})
		}
	}
	return out
}

// ---------------------------------------------------------------- redis_replication

func redisReplication(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range c.Eligible {
		switch t.Role {
		case queries.RoleReplica:
			l, ok := t.RedisReplicaLink, t.RedisReplicaLink != nil
			if !ok {
				continue
			}
			primary := l.MasterHost + ":" + l.MasterPort
			ev := []Evidence{{"primary", primary}}
			switch {
			case !l.LinkUp:
				s := fmt.Sprintf("the link to the primary %s is down", primary)
				if l.HasLinkDownSince {
					s += " since " + humanDuration(l.LinkDownSince)
					ev = append(ev, Evidence{"master_link_down_since_seconds", fmt.Sprintf("%.0f", l.LinkDownSince)})
				}
				ev = append(ev, Evidence{"master_link_status", "down"}, Evidence{"master_sync_in_progress", fmt.Sprintf("%t", l.SyncInProgress)})
				out = append(out, Finding{
					Severity: Critical, Target: t.Name, Object: "master_link",
					Summary:  s + ": the replica serves stale data and cannot take over",
					Evidence: ev,
					Fix: Fix{Kind: "action",
						Text: fmt.Sprintf("check that %s is up and reachable from this replica (redis-cli -h %s -p %s PING), masterauth/masteruser, and the replica's log (\"MASTER <-> REPLICA sync\" errors); if the primary moved, compare with SENTINEL GET-MASTER-ADDR-BY-NAME and REPLICAOF the current primary",
							primary, l.MasterHost, l.MasterPort),
						Why: "a replica without its link misses every write since it broke; the sentinels will not promote it (or promote it with data lost)"},
				})
			case l.LastIOSecondsAgo > th.RedisReplicaLag.Seconds():
				out = append(out, Finding{
					Severity: Warning, Target: t.Name, Object: "master_link",
					Summary:  fmt.Sprintf("nothing heard from the primary %s for %s (it pings every 10 s)", primary, humanDuration(l.LastIOSecondsAgo)),
					Evidence: append(ev, Evidence{"master_last_io_seconds_ago", fmt.Sprintf("%.0f", l.LastIOSecondsAgo)}),
					Fix: Fix{Kind: "action", Text: "check the network between the replica and its primary, and whether the primary is blocked (SLOWLOG GET, LATENCY LATEST on it)",
						Why: "past repl-timeout (60 s) the replica drops the link and resyncs"},
				})
			}
		case queries.RolePrimary:
			in, ok := t.RedisInfo, t.RedisInfo != nil
			if !ok {
				continue
			}
			for _, r := range t.RedisConnectedReplicas {
				lag := in.MasterReplOffset - r.Offset
				var problems []string
				sev := Warning
				if r.State != "" && r.State != "online" {
					problems = append(problems, "state "+r.State)
				}
				if lag > float64(th.RedisReplicaLagBytes) {
					problems = append(problems, humanBytes(lag)+" behind")
					if lag > 100*float64(th.RedisReplicaLagBytes) {
						sev = Critical
					}
				}
				if r.Lag > th.RedisReplicaLag.Seconds() {
					problems = append(problems, fmt.Sprintf("last acknowledgement %s ago", humanDuration(r.Lag)))
				}
				if len(problems) == 0 {
					continue
				}
				out = append(out, Finding{
					Severity: sev, Target: t.Name, Object: "replica:" + r.Addr(), size: lag,
					Summary: fmt.Sprintf("replica %s: %s", r.Addr(), strings.Join(problems, ", ")),
					Evidence: []Evidence{{"master_repl_offset", fmt.Sprintf("%.0f", in.MasterReplOffset)}, {"replica offset", fmt.Sprintf("%.0f", r.Offset)},
						{"lag", humanBytes(max(lag, 0))}, {"seconds since its acknowledgement", fmt.Sprintf("%.0f", r.Lag)}, {"state", r.State}},
					Fix: Fix{Kind: "action", Text: "check the replica's load and network (its INFO replication and log); a replica that keeps falling behind needs a larger repl-backlog-size or a faster link",
						Why: "a lagging replica serves stale reads, and one that falls behind the backlog needs a full resync"},
				})
			}
			if want := th.RedisReplicas; want > 0 && int(in.ConnectedReplicas) < want {
				out = append(out, Finding{
					Severity: Warning, Target: t.Name, Object: "replicas",
					Summary:  fmt.Sprintf("%s connected, the deployment has %d", plural(in.ConnectedReplicas, "replica"), want),
					Evidence: []Evidence{{"connected_slaves", fmt.Sprintf("%.0f", in.ConnectedReplicas)}, {"expected", fmt.Sprintf("%d", want)}},
					Fix: Fix{Kind: "action", Text: "find the missing replicas: are they running, and does their INFO replication name this primary (REPLICAOF)?",
						Why: "with fewer replicas a failover has fewer candidates, and a lost primary may have no replica to promote"},
				})
			}
		}
	}
	return out
}

// ---------------------------------------------------------------- redis_sentinel

func redisSentinel(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	type view struct {
		target string
		m      facts.RedisSentinelMaster
	}
	watchers := map[[2]string][]view{} // by configured cluster and master name
	var keys [][2]string
	for _, t := range c.Eligible {
		s, ok := t.RedisSentinel, t.RedisSentinel != nil
		if !ok {
			continue
		}
		for _, m := range s.Masters {
			k := [2]string{t.Cluster, m.Name}
			if _, ok := watchers[k]; !ok {
				keys = append(keys, k)
			}
			watchers[k] = append(watchers[k], view{t.Name, m})
			if f, ok := sentinelFinding(t.Name, s.Tilt, m, th); ok {
				out = append(out, f)
			}
		}
	}
	for _, k := range keys {
		vs := watchers[k]
		addrs := map[string][]string{}
		var ev []Evidence
		for _, v := range vs {
			addrs[v.m.Address] = append(addrs[v.m.Address], v.target)
			ev = append(ev, Evidence{v.target, fmt.Sprintf("primary %s, config epoch %.0f", v.m.Address, v.m.ConfigEpoch)})
		}
		if len(addrs) < 2 {
			continue
		}
		// the configuration with the highest epoch is the newest, when one has it alone
		newest, tie := vs[0], false
		for _, v := range vs[1:] {
			switch {
			case v.m.ConfigEpoch > newest.m.ConfigEpoch:
				newest, tie = v, false
			case v.m.ConfigEpoch == newest.m.ConfigEpoch && v.m.Address != newest.m.Address:
				tie = true
			}
		}
		which := fmt.Sprintf("the configuration with the highest config epoch is the newest (here %s, from %s)", newest.m.Address, newest.target)
		if tie {
			which = "their config epochs do not tell which is newer, so they were configured apart: decide which server is the primary (ROLE on each; the one the clients write to)"
		}
		out = append(out, Finding{
			Severity: Critical, Cluster: k[0], Object: "master:" + k[1] + ":address",
			Summary:  fmt.Sprintf("the sentinels disagree on the primary of %s: %d addresses", k[1], len(addrs)),
			Evidence: ev,
			Fix: Fix{Kind: "action",
				Text: fmt.Sprintf("ask each sentinel (SENTINEL GET-MASTER-ADDR-BY-NAME %[1]s): %[2]s. Sentinels that reach their peers adopt the newest configuration by themselves; one that does not (a partition, or a `sentinel monitor` pointing at another server) needs SENTINEL REMOVE %[1]s and SENTINEL MONITOR %[1]s with the right primary's address and the quorum, then SENTINEL SET %[1]s auth-pass. Make sure every other server is a replica of that primary (ROLE) so that only one takes writes",
					k[1], which),
				Why: "clients asking different sentinels write to different servers (a split brain), and a failover decided on a wrong view can promote the wrong server"},
		})
	}
	return out
}

// sentinelFinding is what one sentinel's view of one master has wrong, as one finding with
// the worst severity of its problems.
func sentinelFinding(target string, tilt bool, m facts.RedisSentinelMaster, th Thresholds) (Finding, bool) {
	sev := Severity(-1)
	var problems, fixes []string
	raise := func(s Severity, problem, fix string) {
		sev = max(sev, s)
		problems = append(problems, problem)
		if fix != "" && !contains(fixes, fix) {
			fixes = append(fixes, fix)
		}
	}
	startSentinels := fmt.Sprintf("start the missing sentinels and check that they find each other: they announce themselves on the primary's __sentinel__:hello channel, so each must reach the primary and announce an address the others reach (sentinel announce-ip behind NAT or containers); SENTINEL RESET %s makes a sentinel forget peers that are gone", m.Name)
	if m.Quorum > 0 && m.Sentinels < m.Quorum {
		raise(Critical, fmt.Sprintf("sees %s (itself included) but the quorum is %.0f: the primary can never be agreed down, so no failover", plural(m.Sentinels, "sentinel"), m.Quorum), startSentinels)
	}
	if want := float64(th.RedisSentinels); want > 0 && m.Sentinels < want {
		majority := math.Floor(want/2) + 1
		if m.Sentinels < majority {
			raise(Critical, fmt.Sprintf("sees %.0f of the deployment's %.0f sentinels, fewer than the majority of %.0f a failover needs to be authorized", m.Sentinels, want, majority), startSentinels)
		} else {
			raise(Warning, fmt.Sprintf("sees %.0f of the deployment's %.0f sentinels", m.Sentinels, want), startSentinels)
		}
	}
	if m.HasCKQuorum && !m.CKQuorumOK {
		raise(Critical, "SENTINEL CKQUORUM: "+m.CKQuorumMsg, startSentinels)
	}
	replicaFix := fmt.Sprintf("start the replicas or repair their links (their INFO replication; REPLICAOF the primary %s); the redis_replication findings of the replica targets say more", m.Address)
	if m.HealthyReplicas == 0 {
		raise(Critical, fmt.Sprintf("no healthy replica to fail over to (%.0f known)", m.Replicas), replicaFix)
	} else if want := float64(th.RedisReplicas); want > 0 && m.HealthyReplicas < want {
		raise(Warning, fmt.Sprintf("%.0f healthy replicas, the deployment has %.0f", m.HealthyReplicas, want), replicaFix)
	}
	if m.ODown {
		raise(Critical, "the sentinels agree the primary is down (o_down)", "check the primary; a failover should follow: watch SENTINEL MASTERS for a new address")
	} else if m.SDown {
		raise(Warning, "this sentinel cannot reach the primary (s_down)", "check the network between this sentinel and the primary")
	}
	if tilt {
		raise(Warning, "the sentinel is in TILT mode and takes no action", "check the sentinel's host: TILT follows a clock jump or a process that was stalled (load, swap, a paused VM)")
	}
	if sev < 0 {
		return Finding{}, false
	}
	ev := []Evidence{{"primary", m.Address}, {"quorum", fmt.Sprintf("%.0f", m.Quorum)},
		{"sentinels seen (itself included)", fmt.Sprintf("%.0f", m.Sentinels)},
		{"replicas", fmt.Sprintf("%.0f known, %.0f healthy", m.Replicas, m.HealthyReplicas)}}
	for _, r := range m.ReplicaStates {
		ev = append(ev, Evidence{"replica", r})
	}
	if m.HasCKQuorum {
		ev = append(ev, Evidence{"SENTINEL CKQUORUM", m.CKQuorumMsg})
	}
	return Finding{
		Severity: sev, Target: target, Object: "master:" + m.Name,
		Summary:  fmt.Sprintf("master %s: %s", m.Name, strings.Join(problems, "; ")),
		Evidence: ev,
		Fix: Fix{Kind: "action", Text: strings.Join(fixes, "\n"),
			Why: "Sentinel fails over only when a quorum agrees the primary is down, a majority of all sentinels authorizes it, and a healthy replica is there to promote"},
	}, true
}

// plural writes a count with its noun.
func plural(n float64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%.0f %ss", n, noun)
}
