package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// redisConfig points at a PostgreSQL primary and at a Redis set of the test's own: both data
// nodes directly, the sentinel, the primary through the sentinel, and a target with a wrong
// password. Passwords come from an environment variable and a file.
func redisConfig(t *testing.T, set *testenv.RedisSet) string {
	t.Helper()
	pg := env.Postgres(t)
	dir := t.TempDir()
	pwFile := testenv.WriteFile(t, dir, "redis.pw", testenv.RedisPassword+"\n")
	t.Setenv("E2E_REDIS_PW", testenv.RedisPassword)
	t.Setenv("E2E_SENTINEL_PW", testenv.RedisSentinelPassword)
	t.Setenv("E2E_WRONG_PW", testPassword)
	return testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: pg
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
  redis:
    - name: redis-a
      addr: %s
      password_env: E2E_REDIS_PW
    - name: redis-b
      addr: redis://%s/0
      password_file: %s
    - name: sentinel
      addr: %s
      password_env: E2E_SENTINEL_PW
    - name: cache
      sentinel_master: %s
      sentinels: [%s]
      password_env: E2E_REDIS_PW
      sentinel_password_env: E2E_SENTINEL_PW
    - name: wrongpass
      addr: %s
      password_env: E2E_WRONG_PW
`, testPassword, pg.Primary.Port, set.Primary.Addr(), set.Replica.Addr(), pwFile, set.Sentinel.Addr(),
		testenv.RedisMasterName, set.Sentinel.Addr(), set.Primary.Addr()))
}

// value returns the sample of the series with all the labels given, if there is one.
func value(metrics, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if ok {
			f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			return f, err == nil
		}
	}
	return 0, false
}

// scrapeUntil scrapes until cond holds, and fails the test with the last scrape if it never
// does. The limit only bounds a test that would otherwise hang; it asserts nothing about speed.
func (e *exporter) scrapeUntil(t *testing.T, what string, cond func(metrics string) bool) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		m := e.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
		if cond(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; last scrape:\n%s", what, grepLines(m, "redis_up", "pg_up", "redis_instance_info", "redis_sentinel_master_status"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func grepLines(text string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}

func TestRedisEndToEnd(t *testing.T) {
	set := testenv.StartRedisT(t, testenv.RedisOptions{})
	ex := startExporter(t, redisConfig(t, set))
	a, b := set.Primary, set.Replica
	portA, portB := strconv.Itoa(a.Port), strconv.Itoa(b.Port)

	// every role, through one exporter
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pg_up", []string{`target="pg"`}, 1},
		{"redis_up", []string{`target="redis-a"`}, 1},
		{"redis_up", []string{`target="redis-b"`}, 1},
		{"redis_up", []string{`target="sentinel"`}, 1},
		{"redis_up", []string{`target="cache"`}, 1},
		{"redis_up", []string{`target="wrongpass"`}, 0},
		{"redis_instance_info", []string{`target="redis-a"`, `role="master"`}, 1},
		{"redis_instance_info", []string{`target="redis-b"`, `role="slave"`}, 1},
		{"redis_instance_info", []string{`target="cache"`, `role="master"`, `tcp_port="` + portA + `"`}, 1},
		{"redis_master_link_up", []string{`target="redis-b"`, `master_port="` + portA + `"`}, 1},
		{"redis_memory_max_bytes", []string{`target="cache"`}, 1536 << 20},
		{"redis_sentinel_master_status", []string{`target="sentinel"`, `master_address="127.0.0.1:` + portA + `"`, `master_status="ok"`}, 1},
		{"redis_sentinel_master_ckquorum_status", []string{`target="sentinel"`, `master_name="mymaster"`}, 1},
		// the audit ran (whether it finished within its 50 ms depends on how busy the machine is)
		{"redis_cache_namespace_audit_db_keys", []string{`target="cache"`}, 0},
	} {
		got, ok := value(metrics, tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", tc.name, strings.Join(tc.labels, ","), got, ok, tc.want)
		}
	}
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, "persistence_exporter_query_errors_total") && !strings.HasSuffix(line, " 0") &&
			(strings.Contains(line, `target="redis-`) || strings.Contains(line, `target="cache"`) || strings.Contains(line, `target="sentinel"`)) {
			t.Errorf("a Redis query failed: %s", line)
		}
	}
	testenv.CheckMetrics(t, metrics)
	if probe := ex.get(t, "/probe?target=cache"); !strings.Contains(probe, "\nredis_up 1\n") || strings.Contains(probe, `target="`) {
		t.Errorf("/probe?target=cache:\n%.1500s", probe)
	}

	// a failover: the cache target follows the sentinel to the new primary, no config change
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := set.Failover(ctx); err != nil {
		t.Fatal(err)
	}
	ex.scrapeUntil(t, "the cache target on the new primary", func(m string) bool {
		v, ok := value(m, "redis_instance_info", `target="cache"`, `role="master"`, `tcp_port="`+portB+`"`)
		return ok && v == 1
	})
	ex.scrapeUntil(t, "the sentinel reporting the new primary", func(m string) bool {
		v, ok := value(m, "redis_sentinel_master_status", `target="sentinel"`, `master_address="127.0.0.1:`+portB+`"`)
		return ok && v == 1
	})

	// a Redis that hangs (SIGSTOP: the port accepts, nothing answers): redis_up 0 within the
	// scrape's deadline, everything else in the same scrape
	resume := a.Freeze()
	t.Cleanup(resume)
	metrics = ex.scrapeUntil(t, "redis_up 0 for the frozen server", func(m string) bool {
		v, ok := value(m, "redis_up", `target="redis-a"`)
		return ok && v == 0
	})
	resume()
	for _, want := range []string{`pg_up{target="pg"} 1`, `redis_up{target="redis-b"} 1`, `redis_up{target="cache"} 1`, `pg_stat_database_xact_commit{`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("with redis-a frozen, /metrics lacks %q", want)
		}
	}

	// a Redis killed mid-test: its redis_up drops to 0, everything else keeps scraping
	a.Kill()
	metrics = ex.scrapeUntil(t, "redis_up 0 for the killed server", func(m string) bool {
		v, ok := value(m, "redis_up", `target="redis-a"`)
		return ok && v == 0
	})
	for _, want := range []string{`pg_up{target="pg"} 1`, `redis_up{target="redis-b"} 1`, `redis_up{target="cache"} 1`,
		`redis_up{target="sentinel"} 1`, `pg_stat_database_xact_commit{`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("after the kill, /metrics lacks %q", want)
		}
	}
	if _, ok := value(metrics, "redis_memory_used_bytes", `target="redis-a"`); ok {
		t.Error("the killed server still has metrics")
	}

	// secrets: in no metric, no log line, not on the landing page
	logs := ex.logs.String()
	landing := ex.get(t, "/")
	for _, secret := range []string{testenv.RedisPassword, testenv.RedisSentinelPassword, testPassword} {
		for what, text := range map[string]string{"/metrics": metrics, "the log": logs, "the landing page": landing} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows a password", what)
			}
		}
	}
	for _, want := range []string{`target is down`, `target=redis-a`, `target=wrongpass`} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	for _, want := range []string{"cache", "mymaster via sentinels 127.0.0.1:", "127.0.0.1:" + portB} {
		if !strings.Contains(landing, want) {
			t.Errorf("the landing page lacks %q", want)
		}
	}
}

// TLS per target: rediss:// with the CA that signed the server's certificate works; without
// it (system roots) the certificate is refused and the target is down.
func TestRedisTLS(t *testing.T) {
	set := testenv.StartRedisT(t, testenv.RedisOptions{TLS: true})
	dir := t.TempDir()
	t.Setenv("E2E_REDIS_PW", testenv.RedisPassword)
	cfg := testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  redis:
    - name: tls
      addr: rediss://%[1]s
      password_env: E2E_REDIS_PW
      tls: {ca_file: %[2]s}
    - name: tls-unverified-ca
      addr: rediss://%[1]s
      password_env: E2E_REDIS_PW
    - name: plaintext
      addr: %[1]s
      password_env: E2E_REDIS_PW
`, set.Primary.Addr(), set.CAFile))
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	for _, want := range []string{`redis_up{target="tls"} 1`, `redis_up{target="tls-unverified-ca"} 0`, `redis_up{target="plaintext"} 0`,
		`redis_memory_max_bytes{target="tls"} 1.610612736e+09`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if logs := ex.logs.String(); !strings.Contains(logs, "certificate") {
		t.Errorf("the log does not say why the unverified target is down:\n%s", logs)
	}
}
