package redis

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/testcert"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// testKinds is this package's kind, for configuration files that list only its targets.
var testKinds = kind.Kinds{Kind()}.Targets()

// hasClientCert reports whether c presents a client certificate: prometheus/common's TLS
// configuration reads the pair at each handshake (a renewed certificate is used without a
// restart), so it is in GetClientCertificate, not in Certificates.
func hasClientCert(c *tls.Config) bool {
	if c.GetClientCertificate == nil {
		return len(c.Certificates) == 1
	}
	cert, err := c.GetClientCertificate(&tls.CertificateRequestInfo{})
	return err == nil && cert != nil && len(cert.Certificate) == 1
}

func TestRedisTargets(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := testcert.SelfSigned(t, dir, "redis", "redis.test")
	pwFile := testenv.WriteFile(t, dir, "redis_pw", "Pw-From-File-1\n")
	t.Setenv("TEST_SENTINEL_PW", "Sentinel-Pw-2")
	t.Setenv("TEST_REDIS_PW", "Pw-From-Env-3")
	c, err := config.Parse("redis.yml", []byte(`targets:
  redis:
    - name: plain
      addr: 10.0.0.5:6379
    - name: tls-url
      addr: rediss://exporter@redis.example.com:6380/2
      password_file: `+pwFile+`
      tls: {ca_file: `+cert+`, cert_file: `+cert+`, key_file: `+key+`}
      pool_size: 3
      timeout: 2s
    - name: cache
      sentinel_master: mymaster
      sentinels: [10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379]
      username: exporter
      password_env: TEST_REDIS_PW
      sentinel_password_env: TEST_SENTINEL_PW
    - name: tls-block
      addr: 10.0.0.6:6379
      tls: {server_name: redis.test, insecure_skip_verify: true}
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	r := config.TargetsOf[*Target](c)
	if p := r[0]; p.HostPort != "10.0.0.5:6379" || p.TLSConfig != nil || p.PoolSize != DefaultPoolSize || p.Timeout != DefaultTimeout || p.Address() != "10.0.0.5:6379" {
		t.Errorf("plain: %+v", p)
	}
	if u := r[1]; u.HostPort != "redis.example.com:6380" || u.DB != 2 || u.Username != "exporter" || u.Password != "Pw-From-File-1" ||
		u.TLSConfig == nil || u.TLSConfig.ServerName != "redis.example.com" || u.TLSConfig.RootCAs == nil ||
		!hasClientCert(u.TLSConfig) || u.PoolSize != 3 || u.Timeout != 2*time.Second || u.Address() != "rediss://redis.example.com:6380" {
		t.Errorf("tls-url: %+v", u)
	}
	if s := r[2]; s.SentinelMaster != "mymaster" || len(s.Sentinels) != 3 || s.Password != "Pw-From-Env-3" || s.SentinelPassword != "Sentinel-Pw-2" ||
		s.HostPort != "" || s.Address() != "mymaster via sentinels 10.0.0.1:26379, 10.0.0.2:26379, 10.0.0.3:26379" {
		t.Errorf("cache: %+v", s)
	}
	if b := r[3]; b.TLSConfig == nil || b.TLSConfig.ServerName != "redis.test" || !b.TLSConfig.InsecureSkipVerify {
		t.Errorf("tls-block: %+v", b)
	}
	for _, s := range []string{"Pw-From-File-1", "Sentinel-Pw-2", "Pw-From-Env-3"} {
		if !slices.Contains(c.Secrets(), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}

func TestRedisErrors(t *testing.T) {
	t.Setenv("EMPTY_PW", "")
	text := `targets:
  redis:
    - name: a
    - name: b
      addr: "redis://:Inline-Url-Pw-5@10.0.0.1:6379"
    - name: c
      addr: "http://10.0.0.1:6379"
    - name: d
      sentinel_master: mymaster
      addr: 10.0.0.1:26379
    - name: e
      sentinels: [10.0.0.1:26379]
    - name: f
      sentinel_master: mymaster
      sentinels: [nohostport]
      sentinel_username: admin
    - name: g
      addr: 10.0.0.1:6379
      password_env: EMPTY_PW
      password_file: /nonexistent/pw
      pool_size: 50
      timeout: -1s
      db: -1
    - name: h
      addr: 10.0.0.1:6379
      sentinel_password_env: EMPTY_PW
    - name: i
      addr: redis://10.0.0.1:6379/3
      db: 4
      tls: {ca_file: /nonexistent/ca.pem}
    - name: j
      addr: 10.0.0.1:6379
      tls: {cert_file: /nonexistent/cert.pem}
    - name: k
      addr: "redis://:Malformed-Url-Pw-6@10.0.0.1:port"
    - name: l
      addr: "redis://10.0.0.1:6379/0?password=Query-Url-Pw-7"
    - name: m
      addr: "redis://admin@10.0.0.1:port"
    - name: n
      addr: "redis://10.0.0.1:6379/%zz"
`
	_, err := config.Parse("bad.yml", []byte(text), testKinds)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`bad.yml:3: redis target "a" needs addr (host:port, or a redis:// or rediss:// URL)`,
		`bad.yml:5: redis target "b": the URL holds a password: use password_file or password_env`,
		`bad.yml:7: redis target "c": addr "http://10.0.0.1:6379": invalid URL scheme: http`,
		`bad.yml:9: redis target "d": sentinel_master needs sentinels (host:port of each sentinel)`,
		`bad.yml:10: redis target "d": with sentinel_master, list the sentinels under sentinels instead of addr`,
		`bad.yml:12: redis target "e": sentinels need sentinel_master (the master name they monitor)`,
		`bad.yml:15: redis target "f": sentinel "nohostport" is not host:port`,
		`bad.yml:16: redis target "f": sentinel_username needs sentinel_password_file or sentinel_password_env`,
		`bad.yml:17: redis target "g" password: set only one of password_file or password_env`,
		`bad.yml:21: pool_size 50: want 1 to 10 (the exporter should stay cheap on the server)`,
		`bad.yml:22: timeout -1s must be positive`,
		`bad.yml:23: redis target "g": db -1 must not be negative`,
		`bad.yml:24: redis target "h": a sentinel password is only for a sentinel_master target (a sentinel given as addr takes password_file or password_env)`,
		`bad.yml:26: sentinel_password_env: environment variable EMPTY_PW is empty`,
		`bad.yml:29: redis target "i": db 4 differs from the URL's database 3`,
		`bad.yml:30: redis target "i": tls is set but addr says redis:// (use rediss://)`,
		`bad.yml:30: ca_file "/nonexistent/ca.pem": no such file or directory`,
		`bad.yml:33: redis target "j": tls needs both cert_file and key_file, or neither`,
		`bad.yml:35: redis target "k": the URL holds a password: use password_file or password_env`,
		`bad.yml:37: redis target "l": the URL holds a password: use password_file or password_env`,
		`bad.yml:39: redis target "m": addr "redis://admin@10.0.0.1:port" is not a URL: invalid port ":port" after host`,
		`bad.yml:41: redis target "n": addr "redis://10.0.0.1:6379/%zz" is not a URL: invalid URL escape "%zz"`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, pw := range []string{"Inline-Url-Pw-5", "Malformed-Url-Pw-6", "Query-Url-Pw-7"} {
		if strings.Contains(err.Error(), pw) {
			t.Errorf("the errors show the URL's password %s:\n%s", pw, err)
		}
	}
}
