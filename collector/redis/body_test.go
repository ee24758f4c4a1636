package redis

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestRedisPackErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       string
	}{
		{"no command", `{reply: info}`, `test.yaml:3: query "q": redis needs a command`},
		{"keys is refused", `{command: [KEYS, "*"], reply: value}`, `redis command KEYS is not allowed: a pack may send only read-only, non-blocking commands (`},
		{"blocking is refused", `{command: [BLPOP, q, "0"], reply: value}`, `redis command BLPOP is not allowed`},
		{"config set is refused", `{command: [CONFIG, SET, maxmemory, "1"], reply: value}`, `redis command CONFIG: want one of the subcommands GET`},
		{"unknown reply", `{command: [INFO], reply: json}`, `redis reply "json" is unknown (want one of info, info_keyed, pairs, maps, slowlog, latency, value, status, audit, audit_ttl, audit_run)`},
		{"no reply", `{command: [INFO]}`, `redis reply "" is unknown`},
		{"keyed needs match", `{command: [INFO], reply: info_keyed}`, `reply info_keyed needs match`},
		{"bad match", `{command: [INFO], reply: info_keyed, match: '('}`, `match "(": error parsing regexp`},
		{"two groups", `{command: [INFO], reply: info_keyed, match: '(a)(b)'}`, `at most one capture group`},
		{"match elsewhere", `{command: [INFO], reply: info, match: 'x'}`, `match, key and pivot are only for reply info_keyed`},
		{"placeholder", `{command: [INFO, "{master}"], reply: info}`, `{master} is only for the arguments of SENTINEL subcommands`},
		{"flags", `{command: [INFO], reply: info, flags: [s_down]}`, `flags are only for reply maps`},
		{"audit with command", `{command: [SCAN, "0"], reply: audit, audit: {namespaces: [{prefix: "a:", ttl: 1m}]}}`, `redis reply audit takes no command`},
		{"audit without spec", `{reply: audit_run}`, `redis reply audit_run needs audit`},
		{"audit without namespaces", `{reply: audit, audit: {budget: 10ms}}`, `audit needs namespaces`},
		{"audit pattern prefix", `{reply: audit, audit: {namespaces: [{prefix: "a*", ttl: 1m}]}}`, `audit namespace "a*": a prefix is plain text, not a pattern`},
		{"audit duplicate", `{reply: audit, audit: {namespaces: [{prefix: "a:"}, {prefix: "a:"}]}}`, `audit namespace "a:" appears twice`},
		{"audit scan count", `{reply: audit, audit: {scan_count: 100000, namespaces: [{prefix: "a:"}]}}`, `audit scan_count 100000: at most 10000`},
		{"audit buckets", `{reply: audit, audit: {buckets: [5m, 1m], namespaces: [{prefix: "a:"}]}}`, `audit buckets must be positive and increasing`},
		{"audit on a command", `{command: [INFO], reply: info, audit: {namespaces: [{prefix: "a:"}]}}`, `audit is only for the replies audit, audit_ttl and audit_run`},
		{"unknown key", `{command: [INFO], reply: info, sample: 3}`, `unknown key "sample"`},
		// replies that grow with the data
		{"malloc-stats", `{command: [MEMORY, MALLOC-STATS], reply: value}`, `test.yaml:3: query "q": redis command MEMORY: want one of the subcommands STATS`},
		{"pubsub channels", `{command: [PUBSUB, CHANNELS], reply: value}`, `test.yaml:3: query "q": redis command PUBSUB: want one of the subcommands NUMPAT, NUMSUB`},
		{"pubsub shardchannels", `{command: [PUBSUB, SHARDCHANNELS, "*"], reply: value}`, `test.yaml:3: query "q": redis command PUBSUB: want one of the subcommands NUMPAT, NUMSUB`},
		// audits the server would pay for
		{"audit sample keys", `{reply: audit, audit: {sample_keys: 1000000, namespaces: [{prefix: "a:"}]}}`,
			`test.yaml:3: query "q": audit sample_keys 1000000: at most 100000 (a run keeps the keys it samples in memory)`},
		{"audit ttl sample", `{reply: audit, audit: {ttl_sample: 50000, namespaces: [{prefix: "a:"}]}}`,
			`test.yaml:3: query "q": audit ttl_sample 50000: at most 10000 (a run reads that many TTLs per namespace)`},
		{"audit budget", `{reply: audit, audit: {budget: 5s, namespaces: [{prefix: "a:"}]}}`,
			`test.yaml:3: query "q": audit budget 5s: at most 1s (the audit must stay cheap on the server)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := queries.Parse("test.yaml", []byte("source: redis\nqueries:\n  - name: q\n    redis: "+tc.body+"\n    columns: [{name: x, usage: gauge}]\n"), allKinds())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// An audit's budget must fit in its query's timeout, or the run is cut off before it can spend
// it; the error names the timeout's line.
func TestRedisAuditBudgetWithinTimeout(t *testing.T) {
	_, err := queries.Parse("test.yaml", []byte(`source: redis
queries:
  - name: a
    timeout: 40ms
    redis: {reply: audit, audit: {budget: 50ms, namespaces: [{prefix: "a:"}]}}
    columns: [{name: prefix, usage: label}, {name: keys, usage: gauge}]
  - name: b
    timeout: 100ms
    variants:
      - redis: {reply: audit_run, audit: {budget: 200ms, namespaces: [{prefix: "a:"}]}}
    columns: [{name: scanned_keys, usage: gauge}]
  - name: c
    timeout: 100ms
    redis: {reply: audit, audit: {budget: 50ms, namespaces: [{prefix: "a:"}]}}
    columns: [{name: prefix, usage: label}, {name: keys, usage: gauge}]
`), allKinds())
	want := `test.yaml:4: query "a": audit budget 50ms must be below the query's timeout 40ms
test.yaml:10: query "b": audit budget 200ms must be below the query's timeout 100ms`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestRedisPackDefaults(t *testing.T) {
	p, err := queries.Parse("test.yaml", []byte(`source: redis
queries:
  - name: a
    redis:
      reply: audit
      audit: &spec
        namespaces: [{prefix: "session:", ttl: 1h}, {prefix: "tq_info:", ttl: 7m}]
    columns: [{name: prefix, usage: label}, {name: keys, usage: gauge}]
  - name: b
    redis: {reply: audit_run, audit: *spec}
    columns: [{name: scanned_keys, usage: gauge}]
  - name: c
    roles: [sentinel]
    redis: {command: [sentinel, replicas, "{master}"], reply: maps}
    columns: [{name: master_name, usage: label}]
`), allKinds())
	if err != nil {
		t.Fatal(err)
	}
	a := p.Queries[0].Body.(*Redis).Audit
	if a.SampleKeys != DefaultAuditSampleKeys || a.TTLSample != DefaultAuditTTLSample || a.ScanCount != DefaultAuditScanCount || a.Budget != DefaultAuditBudget {
		t.Errorf("defaults not applied: %+v", a)
	}
	// the default buckets, with the namespaces' policies among them
	want := []time.Duration{time.Minute, 5 * time.Minute, 7 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour}
	if len(a.Buckets) != len(want) {
		t.Fatalf("buckets %v, want %v", a.Buckets, want)
	}
	for i := range want {
		if a.Buckets[i] != want[i] {
			t.Errorf("buckets %v, want %v", a.Buckets, want)
			break
		}
	}
	if b := p.Queries[1].Body.(*Redis).Audit; len(b.Namespaces) != 2 || b.Budget != DefaultAuditBudget {
		t.Errorf("the alias gives %+v", b)
	}
}

func TestRedisDefaultPack(t *testing.T) {
	qs := defaultQueries(t)
	if len(qs) < 15 {
		t.Fatalf("only %d default Redis queries", len(qs))
	}
	names := map[string]bool{}
	for _, q := range qs {
		for _, m := range q.Metrics {
			names[m.Name] = true
			if m.Help == m.Name {
				t.Errorf("%s:%d: metric %q has no help", q.File, q.Line, m.Name)
			}
			for _, bad := range []string{"_ms", "_usec", "_milliseconds", "_kbps"} {
				if strings.Contains(m.Name, bad) {
					t.Errorf("metric %q: use base units", m.Name)
				}
			}
		}
	}
	// redis_exporter's names, which its dashboards use
	for _, n := range []string{"redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients",
		"redis_evicted_keys_total", "redis_keyspace_hits_total", "redis_keyspace_misses_total", "redis_db_keys",
		"redis_db_keys_expiring", "redis_rdb_last_bgsave_status", "redis_master_link_up", "redis_connected_slave_offset_bytes",
		"redis_commands_total", "redis_commands_duration_seconds_total", "redis_errors_total", "redis_slowlog_length",
		"redis_sentinel_master_status", "redis_sentinel_master_ckquorum_status", "redis_config_maxmemory", "redis_instance_info"} {
		if !names[n] {
			t.Errorf("the default pack lacks %s", n)
		}
	}
}
