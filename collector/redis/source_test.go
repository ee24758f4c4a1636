package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) {
	SetLogger(slog.New(slog.DiscardHandler))
	os.Exit(env.Run(m))
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func newSource(t testing.TB, opts Options) *Source {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func direct(srv *testenv.RedisServer) Options {
	return Options{Addr: srv.Addr(), Password: srv.Password}
}

func viaSentinel(set *testenv.RedisSet) Options {
	return Options{SentinelMaster: testenv.RedisMasterName, SentinelAddrs: []string{set.Sentinel.Addr()},
		SentinelPassword: set.Sentinel.Password, Password: testenv.RedisPassword}
}

func TestProbeRoles(t *testing.T) {
	set := env.Redis(t)
	for _, tc := range []struct {
		name string
		opts Options
		role queries.Role
		port int
	}{
		{"primary", direct(set.Primary), queries.RolePrimary, set.Primary.Port},
		{"replica", direct(set.Replica), queries.RoleReplica, set.Replica.Port},
		{"sentinel", direct(set.Sentinel), queries.RoleSentinel, set.Sentinel.Port},
		{"sentinel master", viaSentinel(set), queries.RolePrimary, set.Primary.Port},
	} {
		s := newSource(t, tc.opts)
		gctx := inGather(t)
		info, err := s.Probe(gctx)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if info.Role != tc.role || info.Version < 50000 {
			t.Errorf("%s: role %q version %d, want role %q", tc.name, info.Role, info.Version, tc.role)
		}
		if _, got := info.Features[FeatureConfig]; got != (tc.role != queries.RoleSentinel) {
			t.Errorf("%s: feature:config %v", tc.name, got)
		}
		if port := probePort(t, gctx, s); port != tc.port {
			t.Errorf("%s: the probe's INFO comes from port %d, want %d", tc.name, port, tc.port)
		}
	}
	// a wrong password, with and without an ACL user, is a down target that says why, and
	// the error does not echo the password given
	for _, user := range []string{"", "nobody"} {
		s := newSource(t, Options{Addr: set.Primary.Addr(), Username: user, Password: "not-" + testenv.RedisPassword})
		_, err := s.Probe(ctx(t))
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), testenv.RedisPassword) {
			t.Errorf("user %q, wrong password: %v", user, err)
		}
	}
}

// inGather is a context of a gather of its own, as the engine gives a probe and its queries.
func inGather(t testing.TB) context.Context {
	g := share.NewGather()
	t.Cleanup(g.End)
	return share.WithGather(ctx(t), g)
}

// probePort is the tcp_port of the INFO reply the probe of the gather gctx cached.
func probePort(t testing.TB, gctx context.Context, s *Source) int {
	t.Helper()
	v, err := s.do(gctx, []string{"INFO"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParseInfo(v.(string)).Get("tcp_port")
	n, _ := strconv.Atoi(p)
	return n
}

// scrapeTargets gathers targets through the real engine and the default pack, and returns the
// /metrics text and the log.
func scrapeTargets(t *testing.T, targets ...*collector.Target) (string, string) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	e := collector.NewEngine(targets, slog.New(slog.NewTextHandler(logs, nil)))
	return scrape(t, e), logs.String()
}

// scrape gets /metrics from the engine once.
func scrape(t *testing.T, e *collector.Engine) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.MetricsHandler(collector.HandlerOpts{DefaultTimeout: 20 * time.Second}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func defaultQueries(t testing.TB) []*queries.Query {
	t.Helper()
	set, err := queries.DefaultSet(allKinds())
	if err != nil {
		t.Fatal(err)
	}
	return set.For(queries.SourceRedis)
}

// scrapeQueries is the default pack for tests that scrape: its audit gets a 1 s budget
// instead of 50 ms, so that a busy machine's slow round trips do not stop a run early (the
// default budget is measured by BenchmarkAudit1M).
func scrapeQueries(t testing.TB) []*queries.Query {
	t.Helper()
	qs := defaultQueries(t)
	for i, q := range qs {
		if redisOf(q.Body) == nil || redisOf(q.Body).Audit == nil {
			continue
		}
		qc, rc, ac := *q, *redisOf(q.Body), *redisOf(q.Body).Audit
		ac.Budget = time.Second
		rc.Audit = &ac
		qc.Body = &rc
		qs[i] = &qc
	}
	return qs
}

func target(t testing.TB, name string, opts Options, qs []*queries.Query) *collector.Target {
	return &collector.Target{Name: name, Kind: queries.SourceRedis, UpMetric: "redis_up", Source: newSource(t, opts),
		Queries: qs, Timeout: 5 * time.Second, Parallel: 2}
}

// sample finds the value of the series that has all the given labels.
func sample(metrics, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			return f, true
		}
	}
	return 0, false
}

func TestDefaultPackOnEachRole(t *testing.T) {
	checkDefaultPack(t, env.Redis(t))
}

// Debian bullseye's Redis 6.0 (fetched and extracted, not installed): the whole default pack
// on a primary, a replica, a sentinel and the sentinel-resolved primary, without a failed
// query. It sends CONFIG GET "*" (no multi-name CONFIG GET before 7.0) to servers with
// requirepass and masterauth set.
func TestDefaultPackOnRedis60(t *testing.T) {
	rel := testenv.FetchRedis(t, "6.0")
	set := testenv.StartRedisT(t, rel.Options())
	if set.Version/100 != 600 {
		t.Fatalf("%s runs Redis %d, want 6.0", rel.Bin, set.Version)
	}
	checkDefaultPack(t, set)
}

// checkDefaultPack runs the default pack on every kind of target of the set and checks the
// values, that no query fails, units, and promtool.
func checkDefaultPack(t *testing.T, set *testenv.RedisSet) {
	t.Helper()
	c := set.Primary.Client()
	defer c.Close()
	cx := ctx(t)
	// a keyspace, hits and misses, an error, a slow command, a latency spike
	pipe := c.Pipeline()
	for i := range 300 {
		pipe.Set(cx, fmt.Sprintf("session:%d", i), "x", time.Hour)
	}
	for i := range 200 {
		pipe.Set(cx, fmt.Sprintf("plain:%d", i), "x", 0)
	}
	pipe.Get(cx, "session:1")
	pipe.Get(cx, "nope")
	if _, err := pipe.Exec(cx); err != nil && !errors.Is(err, goredis.Nil) {
		t.Fatal(err)
	}
	_ = c.Do(cx, "NOSUCHCOMMAND").Err()
	// a 20 ms command, logged in the slow log and as a latency spike, and nothing after it:
	// on a busy machine an ordinary command can take 15 ms too
	setThresholds := func(latencyMS, slowlogUS string) {
		t.Helper()
		for k, v := range map[string]string{"latency-monitor-threshold": latencyMS, "slowlog-log-slower-than": slowlogUS} {
			if err := c.ConfigSet(cx, k, v).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	setThresholds("15", "15000")
	if err := c.Do(cx, "DEBUG", "SLEEP", "0.02").Err(); err != nil {
		t.Fatal(err)
	}
	setThresholds("1000000", "1000000000")
	if err := set.WaitReplicaLinked(cx, set.Replica); err != nil {
		t.Fatal(err)
	}
	rc := set.Replica.Client()
	defer rc.Close()
	if err := waitFor(cx, func() error {
		n, err := rc.DBSize(cx).Result()
		if err == nil && n < 500 {
			err = fmt.Errorf("the replica has %d keys", n)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}

	qs := scrapeQueries(t)
	logBuf := &testenv.SyncBuffer{}
	e := collector.NewEngine([]*collector.Target{
		target(t, "primary", direct(set.Primary), qs),
		target(t, "replica", direct(set.Replica), qs),
		target(t, "sentinel", direct(set.Sentinel), qs),
		target(t, "cache", viaSentinel(set), qs),
	}, slog.New(slog.NewTextHandler(logBuf, nil)))
	metrics := scrape(t, e)
	logs := logBuf.String()
	pp, rp := strconv.Itoa(set.Primary.Port), strconv.Itoa(set.Replica.Port)
	paddr := "127.0.0.1:" + pp
	const (
		present = -1    // any value
		sleep   = -0.02 // 0.02 s ± 50 %: DEBUG SLEEP 0.02, in seconds (not 20 ms, not 20000 µs)
	)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
		since  int // the server version that has it
	}{
		{"redis_up", []string{`target="primary"`}, 1, 0},
		{"redis_up", []string{`target="replica"`}, 1, 0},
		{"redis_up", []string{`target="sentinel"`}, 1, 0},
		{"redis_up", []string{`target="cache"`}, 1, 0},
		// primary: the seed's settings
		{"redis_memory_max_bytes", []string{`target="primary"`}, 1536 << 20, 0},
		{"redis_config_maxmemory", []string{`target="primary"`}, 1536 << 20, 0},
		{"redis_config_maxclients", []string{`target="primary"`}, present, 0},
		{"redis_config_info", []string{`target="primary"`, `maxmemory_policy="allkeys-lru"`, `save="900 1 300 10 60 10000"`}, 1, 0},
		{"redis_config_stop_writes_on_bgsave_error", []string{`target="primary"`}, 1, 0},
		{"redis_config_appendonly", []string{`target="primary"`}, 0, 0},
		{"redis_rdb_last_bgsave_status", []string{`target="primary"`}, 1, 0},
		{"redis_instance_info", []string{`target="primary"`, `role="master"`, `maxmemory_policy="allkeys-lru"`, `tcp_port="` + pp + `"`}, 1, 0},
		{"redis_memory_used_bytes", []string{`target="primary"`}, present, 0},
		{"redis_connected_clients", []string{`target="primary"`}, present, 0},
		{"redis_evicted_keys_total", []string{`target="primary"`}, 0, 0},
		{"redis_keyspace_hits_total", []string{`target="primary"`}, present, 0},
		{"redis_keyspace_misses_total", []string{`target="primary"`}, present, 0},
		{"redis_db_keys", []string{`target="primary"`, `db="db0"`}, present, 0},
		{"redis_db_keys_expiring", []string{`target="primary"`, `db="db0"`}, present, 0},
		{"redis_connected_slaves", []string{`target="primary"`}, 1, 0},
		{"redis_connected_slave_offset_bytes", []string{`target="primary"`, `slave_ip="127.0.0.1"`, `slave_port="` + rp + `"`, `slave_state="online"`}, present, 0},
		{"redis_connected_slave_lag_seconds", []string{`target="primary"`, `slave_port="` + rp + `"`}, present, 0},
		{"redis_commands_total", []string{`target="primary"`, `cmd="set"`}, present, 0},
		{"redis_commands_duration_seconds_total", []string{`target="primary"`, `cmd="set"`}, present, 0},
		{"redis_errors_total", []string{`target="primary"`, `err="ERR"`}, present, 60200},
		{"redis_latency_percentiles_seconds", []string{`target="primary"`, `cmd="set"`, `percentile="p99"`}, present, 70000},
		{"redis_slowlog_length", []string{`target="primary"`}, present, 0},
		{"redis_last_slow_execution_duration_seconds", []string{`target="primary"`}, sleep, 0},
		{"redis_slowlog_entry_duration_seconds", []string{`target="primary"`, `position="0"`, `cmd="debug"`}, sleep, 0},
		{"redis_latency_spike_duration_seconds", []string{`target="primary"`, `event_name="command"`}, sleep, 0},
		{"redis_cache_namespace_keys", []string{`target="primary"`, `prefix="session:"`}, 300, 0},
		{"redis_cache_namespace_no_ttl_ratio", []string{`target="primary"`, `prefix="session:"`}, 0, 0},
		{"redis_cache_namespace_ttl_keys", []string{`target="primary"`, `prefix="session:"`, `ttl_le="3600"`}, 300, 0},
		{"redis_cache_namespace_audit_complete", []string{`target="primary"`}, 1, 0},
		// replica
		{"redis_master_link_up", []string{`target="replica"`, `master_host="127.0.0.1"`, `master_port="` + pp + `"`}, 1, 0},
		{"redis_instance_info", []string{`target="replica"`, `role="slave"`}, 1, 0},
		{"redis_slave_repl_offset", []string{`target="replica"`}, present, 0},
		{"redis_slave_priority", []string{`target="replica"`}, 100, 0},
		{"redis_db_keys", []string{`target="replica"`, `db="db0"`}, present, 0},
		// sentinel
		{"redis_sentinel_masters", []string{`target="sentinel"`}, 1, 0},
		{"redis_sentinel_master_status", []string{`target="sentinel"`, `master_name="mymaster"`, `master_address="` + paddr + `"`, `master_status="ok"`}, 1, 0},
		{"redis_sentinel_master_slaves", []string{`target="sentinel"`, `master_name="mymaster"`}, 1, 0},
		{"redis_sentinel_master_sentinels", []string{`target="sentinel"`, `master_name="mymaster"`}, 1, 0},
		{"redis_sentinel_master_setting_ckquorum", []string{`target="sentinel"`, `master_address="` + paddr + `"`}, 1, 0},
		{"redis_sentinel_master_sdown", []string{`target="sentinel"`, `master_name="mymaster"`}, 0, 0},
		{"redis_sentinel_master_ckquorum_status", []string{`target="sentinel"`, `master_name="mymaster"`}, 1, 0},
		{"redis_sentinel_replica_master_link_up", []string{`target="sentinel"`, `replica_address="127.0.0.1:` + rp + `"`}, 1, 0},
		{"redis_instance_info", []string{`target="sentinel"`, `role="sentinel"`, `redis_mode="sentinel"`}, 1, 0},
		// the primary found through the sentinel
		{"redis_instance_info", []string{`target="cache"`, `role="master"`, `tcp_port="` + pp + `"`}, 1, 0},
	} {
		if set.Version < tc.since {
			continue
		}
		got, ok := sample(metrics, tc.name, tc.labels...)
		switch {
		case !ok:
			t.Errorf("no %s{%s}", tc.name, strings.Join(tc.labels, ","))
		case tc.want == sleep && (got < 0.01 || got > 0.03):
			t.Errorf("%s{%s} = %g, want 0.02 s ± 50 %% (DEBUG SLEEP 0.02)", tc.name, strings.Join(tc.labels, ","), got)
		case tc.want >= 0 && got != tc.want:
			t.Errorf("%s{%s} = %g, want %g", tc.name, strings.Join(tc.labels, ","), got, tc.want)
		}
	}
	// role-specific queries stay on their role, and CLUSTER INFO off a cluster
	for _, bad := range []string{`redis_master_link_up{target="primary"`, `redis_cluster_state{`, `redis_sentinel_masters{target="primary"`,
		`redis_memory_used_bytes{target="sentinel"`, `redis_config_maxmemory{target="sentinel"`, testenv.RedisPassword, testenv.RedisSentinelPassword} {
		if strings.Contains(metrics, bad) {
			t.Errorf("/metrics has %q", bad)
		}
	}
	// no query fails on any role
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "persistence_exporter_query_errors_total") && !strings.HasSuffix(line, " 0") {
			t.Errorf("a query failed: %s", line)
		}
	}
	if strings.Contains(logs, "query failed") {
		t.Errorf("the log has failures:\n%s", logs)
	}
	// the CONFIG GET replies kept in the results store hold no credential (before 7.0 the
	// pack asks for every parameter)
	for _, k := range []string{"primary\x00redis_config", "replica\x00redis_config_info", "cache\x00redis_config"} {
		r := e.Store().Last(k)
		if r == nil || r.Rows == nil || len(r.Rows.Values) != 1 {
			t.Errorf("%q: no stored result: %+v", k, r)
			continue
		}
		for i, col := range r.Rows.Columns {
			if sensitiveParameter(strings.ReplaceAll(col, "_", "-")) || strings.Contains(fmt.Sprint(r.Rows.Values[0][i]), testenv.RedisPassword) {
				t.Errorf("%q: the stored rows keep the column %s", k, col)
			}
		}
	}
	promtool(t, metrics)
}

func promtool(t *testing.T, metrics string) {
	t.Helper()
	testenv.CheckMetrics(t, metrics)
}

func waitFor(ctx context.Context, f func() error) error {
	var err error
	for {
		if err = f(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// An ACL user without CONFIG: the CONFIG queries are skipped, said once in the log, and the
// rest carries on.
func TestConfigForbiddenByACL(t *testing.T) {
	set := env.Redis(t)
	c := set.Primary.Client()
	defer c.Close()
	const user, pass = "exporter_noconfig", "acl-pass-for-test"
	if err := c.Do(ctx(t), "ACL", "SETUSER", user, "reset", "on", ">"+pass, "~*", "&*", "+@all", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Do(context.Background(), "ACL", "DELUSER", user)
	qs := scrapeQueries(t)
	tg := target(t, "acl", Options{Addr: set.Primary.Addr(), Username: user, Password: pass}, qs)
	var metrics, logs string
	for range 3 {
		metrics, logs = scrapeTargets(t, tg)
	}
	if v, ok := sample(metrics, "redis_up"); !ok || v != 1 {
		t.Fatalf("redis_up %v %v", v, ok)
	}
	if v, ok := sample(metrics, "persistence_exporter_query_enabled", `query="redis_config"`); !ok || v != 0 {
		t.Errorf("redis_config enabled = %v %v, want 0", v, ok)
	}
	if _, ok := sample(metrics, "redis_config_maxmemory"); ok {
		t.Error("redis_config_maxmemory without CONFIG permission")
	}
	if _, ok := sample(metrics, "redis_memory_max_bytes"); !ok {
		t.Error("INFO metrics should carry on")
	}
	// one engine, three scrapes: the reason is logged once per query, not per scrape
	if n := strings.Count(logs, "missing=feature:config"); n != 2 {
		t.Errorf("the log mentions the missing CONFIG permission %d times, want 2 (once per CONFIG query):\n%s", n, logs)
	}
}

// The source follows a failover when it is given the sentinel master name: after SENTINEL
// FAILOVER, the probe answers from the new primary, without a new source.
func TestFollowsFailover(t *testing.T) {
	set := testenv.StartRedisT(t, testenv.RedisOptions{})
	s := newSource(t, viaSentinel(set))
	gctx := inGather(t)
	if _, err := s.Probe(gctx); err != nil {
		t.Fatal(err)
	}
	if port := probePort(t, gctx, s); port != set.Primary.Port {
		t.Fatalf("before the failover: port %d, want %d", port, set.Primary.Port)
	}
	old := set.Primary
	if err := set.Failover(ctx(t)); err != nil {
		t.Fatal(err)
	}
	cx := ctx(t)
	err := waitFor(cx, func() error {
		gctx := inGather(t)
		info, err := s.Probe(gctx)
		if err != nil {
			return err
		}
		if port := probePort(t, gctx, s); port != set.Primary.Port || info.Role != queries.RolePrimary {
			return fmt.Errorf("the source is on port %d as %s", port, info.Role)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after the failover to port %d (from %d): %v", set.Primary.Port, old.Port, err)
	}
}

// A user adds an INFO field and a CONFIG value in a pack of their own: YAML, no Go.
func TestUserPackAddsFields(t *testing.T) {
	set := env.Redis(t)
	p, err := queries.Parse("user.yaml", []byte(`source: redis
queries:
  - name: my_redis
    help: Fields the default pack does not map.
    redis: {command: [INFO], reply: info}
    columns:
      - {name: lru_clock, usage: gauge, metric: my_redis_lru_clock}
      - {name: arch_bits, usage: gauge, metric: my_redis_arch_bits}
  - name: my_redis_config
    help: Settings the default pack does not read.
    requires: [feature:config]
    redis: {command: [CONFIG, GET, timeout, hz], reply: pairs}
    columns:
      - {name: timeout, usage: gauge, metric: my_redis_config_timeout_seconds}
      - {name: hz, usage: gauge, metric: my_redis_config_hz}
`), allKinds())
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := scrapeTargets(t, target(t, "primary", direct(set.Primary), p.Queries))
	for name, want := range map[string]float64{"my_redis_arch_bits": 64, "my_redis_config_timeout_seconds": 0, "my_redis_config_hz": 10} {
		if got, ok := sample(metrics, name); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if _, ok := sample(metrics, "my_redis_lru_clock"); !ok {
		t.Error("no my_redis_lru_clock")
	}
}

// The least-privilege ACL that docs/redis.md recommends runs the whole default pack.
func TestLeastPrivilegeACL(t *testing.T) {
	set := env.Redis(t)
	c := set.Primary.Client()
	defer c.Close()
	const user, pass = "exporter_min", "acl-min-pass-for-test"
	args := []any{"ACL", "SETUSER", user, "reset", "on", ">" + pass, "~*"}
	for _, cmd := range []string{"ping", "hello", "client|setname", "info", "config|get", "slowlog|get", "slowlog|len",
		"latency|latest", "dbsize", "scan", "pttl"} {
		args = append(args, "+"+cmd)
	}
	if err := c.Do(ctx(t), args...).Err(); err != nil {
		t.Fatal(err)
	}
	defer c.Do(context.Background(), "ACL", "DELUSER", user)
	metrics, logs := scrapeTargets(t, target(t, "min", Options{Addr: set.Primary.Addr(), Username: user, Password: pass}, scrapeQueries(t)))
	if v, ok := sample(metrics, "redis_up"); !ok || v != 1 {
		t.Fatalf("redis_up %v %v\n%s", v, ok, logs)
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "persistence_exporter_query_errors_total") && !strings.HasSuffix(line, " 0") {
			t.Errorf("a query failed: %s", line)
		}
	}
	for _, m := range []string{"redis_config_maxmemory", "redis_cache_namespace_keys", "redis_commands_total", "redis_slowlog_length"} {
		if _, ok := sample(metrics, m); !ok {
			t.Errorf("no %s with the least-privilege user", m)
		}
	}
}

// CONFIG GET "*" (what the default pack sends to servers before 7.0) on a server with
// requirepass and masterauth set: no credential reaches the rows, so none reaches the results
// store.
func TestConfigGetDropsCredentials(t *testing.T) {
	set := env.Redis(t)
	c := set.Primary.Client()
	defer c.Close()
	for _, p := range []string{"requirepass", "masterauth"} {
		if v, err := c.ConfigGet(ctx(t), p).Result(); err != nil || v[p] != testenv.RedisPassword {
			t.Fatalf("the test server should have %s set: %v %v", p, v, err)
		}
	}
	p, err := queries.Parse("user.yaml", []byte(`source: redis
queries:
  - name: all_config
    help: Every setting.
    requires: [feature:config]
    redis: {command: [CONFIG, GET, "*"], reply: pairs}
    columns:
      - {name: maxmemory, usage: gauge}
`), allKinds())
	if err != nil {
		t.Fatal(err)
	}
	s := newSource(t, direct(set.Primary))
	if _, err := s.Probe(ctx(t)); err != nil {
		t.Fatal(err)
	}
	q := p.Queries[0]
	rows, err := s.Run(ctx(t), q, q.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Values) != 1 || len(rows.Columns) < 100 || !slices.Contains(rows.Columns, "maxmemory") {
		t.Fatalf("CONFIG GET * gave %d rows and the columns %q", len(rows.Values), rows.Columns)
	}
	for i, col := range rows.Columns {
		if sensitiveParameter(strings.ReplaceAll(col, "_", "-")) {
			t.Errorf("the rows have the column %s", col)
		}
		if v := fmt.Sprint(rows.Values[0][i]); strings.Contains(v, testenv.RedisPassword) {
			t.Errorf("column %s holds the password", col)
		}
	}
}

// A failed dial is tried once, not go-redis' default five times with backoff: a dead master
// or sentinel must not spend the probe's budget. The same for both kinds of client.
func TestDialOnce(t *testing.T) {
	for _, opts := range []Options{
		{Addr: "127.0.0.1:1"},
		{SentinelMaster: "mymaster", SentinelAddrs: []string{"127.0.0.1:1"}},
	} {
		s := newSource(t, opts)
		if n := s.client.Options().DialerRetries; n != 1 {
			t.Errorf("%+v: DialerRetries %d, want 1", opts, n)
		}
	}
}

// db on a target given by address: the data node's connections SELECT it (the audit scans
// it); a sentinel, which has no databases and refuses SELECT, is still up.
func TestDB(t *testing.T) {
	set := env.Redis(t)
	cx := ctx(t)
	c := set.Primary.Client()
	defer c.Close()
	pipe := c.Pipeline()
	pipe.Select(cx, 3)
	for i := range 40 {
		pipe.Set(cx, fmt.Sprintf("dbthree:%d", i), "v", time.Hour)
	}
	if _, err := pipe.Exec(cx); err != nil {
		t.Fatal(err)
	}
	opts := direct(set.Primary)
	opts.DB = 3
	s := newSource(t, opts)
	if _, err := s.Probe(cx); err != nil {
		t.Fatal(err)
	}
	spec := auditSpec(t, 10*time.Second)
	spec.Namespaces = []RedisNamespace{{Prefix: "dbthree:", TTL: time.Hour}}
	run, err := s.audit(cx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := estimateOf(run, "dbthree:"); !ok || n != 40 || !run.complete {
		t.Errorf("db 3: %v keys dbthree: (complete %v), want all 40", n, run.complete)
	}

	opts = direct(set.Sentinel)
	opts.DB = 3
	s = newSource(t, opts)
	info, err := s.Probe(cx)
	if err != nil || info.Role != queries.RoleSentinel {
		t.Fatalf("a sentinel with db 3: role %q, %v", info.Role, err)
	}
	if _, err := s.do(cx, []string{"SENTINEL", "MASTERS"}); err != nil {
		t.Errorf("SENTINEL MASTERS: %v", err)
	}
}

// TestClusterMode: a node of a Redis Cluster (one node serving all 16384 slots) gets
// redis_exporter's CLUSTER INFO metrics; a standalone server is never sent CLUSTER INFO and
// fails no query for it.
func TestClusterMode(t *testing.T) {
	cluster := testenv.StartRedisT(t, testenv.RedisOptions{Cluster: true})
	standalone := env.Redis(t).Primary
	cx := ctx(t)
	for _, tc := range []struct {
		srv  *testenv.RedisServer
		want bool
	}{{cluster.Primary, true}, {standalone, false}} {
		info, err := newSource(t, direct(tc.srv)).Probe(cx)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := info.Features[FeatureCluster]; got != tc.want {
			t.Errorf("%s: feature:cluster %v, want %v", tc.srv.Name, got, tc.want)
		}
	}
	sc := standalone.Client()
	defer sc.Close()
	clusterCalls := func() string {
		t.Helper()
		stats, err := sc.Info(cx, "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		// cmdstat_cluster before 7.0, cmdstat_cluster|info since
		var lines []string
		for _, line := range strings.Split(stats, "\n") {
			if strings.HasPrefix(line, "cmdstat_cluster") {
				lines = append(lines, strings.TrimSpace(line))
			}
		}
		return strings.Join(lines, " ")
	}
	before := clusterCalls()
	cc := cluster.Primary.Client()
	defer cc.Close()
	maxclients, err := cc.ConfigGet(cx, "maxclients").Result()
	if err != nil {
		t.Fatal(err)
	}

	qs := scrapeQueries(t)
	metrics, logs := scrapeTargets(t, target(t, "cluster", direct(cluster.Primary), qs), target(t, "standalone", direct(standalone), qs))
	for _, tc := range []struct {
		name   string
		target string
		want   float64
	}{
		{"redis_up", "cluster", 1},
		{"redis_cluster_enabled", "cluster", 1},
		{"redis_cluster_state", "cluster", 1},
		{"redis_cluster_slots_assigned", "cluster", 16384},
		{"redis_cluster_slots_ok", "cluster", 16384},
		{"redis_cluster_slots_pfail", "cluster", 0},
		{"redis_cluster_slots_fail", "cluster", 0},
		{"redis_cluster_known_nodes", "cluster", 1},
		{"redis_cluster_size", "cluster", 1},
		{"redis_config_maxclients", "cluster", mustFloat(t, maxclients["maxclients"])},
		{"redis_cluster_enabled", "standalone", 0},
	} {
		got, ok := sample(metrics, tc.name, `target="`+tc.target+`"`)
		if !ok || got != tc.want {
			t.Errorf("%s{target=%q} = %v (found %v), want %v", tc.name, tc.target, got, ok, tc.want)
		}
	}
	for _, name := range []string{"redis_cluster_current_epoch", "redis_cluster_my_epoch", "redis_cluster_messages_sent_total", "redis_cluster_messages_received_total"} {
		if _, ok := sample(metrics, name, `target="cluster"`); !ok {
			t.Errorf("no %s{target=\"cluster\"}", name)
		}
	}
	if v, ok := sample(metrics, "persistence_exporter_query_enabled", `query="redis_cluster_info"`, `target="standalone"`); !ok || v != 0 {
		t.Errorf("redis_cluster_info on the standalone server: enabled %v (found %v), want 0", v, ok)
	}
	if _, ok := sample(metrics, "redis_cluster_state", `target="standalone"`); ok {
		t.Error("a standalone server has redis_cluster_state")
	}
	if after := clusterCalls(); after != before {
		t.Errorf("the standalone server was sent CLUSTER commands: %q, then %q", before, after)
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "persistence_exporter_query_errors_total") && !strings.HasSuffix(line, " 0") {
			t.Errorf("a query failed: %s", line)
		}
	}
	if strings.Contains(logs, "query failed") {
		t.Errorf("the log has failures:\n%s", logs)
	}
	promtool(t, metrics)
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return f
}
