package testenv

import (
	"github.com/persistence-exporter/persistence_exporter/internal/version"

	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis test servers: the seed deployment's shape in small. A primary with the seed's
// settings (maxmemory 1536mb, allkeys-lru, RDB save "900 1 300 10 60 10000",
// stop-writes-on-bgsave-error yes), a replica, and a sentinel that monitors them as master
// RedisMasterName with quorum 1.

// RedisMasterName is the name the sentinel monitors the primary under.
const RedisMasterName = "mymaster"

// Passwords of the test servers: the data nodes require RedisPassword, the sentinel
// RedisSentinelPassword. Tests check that neither appears in anything the exporter writes.
const (
	RedisPassword         = "Redis-Test-Pass-4711"
	RedisSentinelPassword = "Sentinel-Test-Pass-0815"
)

// RedisOptions configure StartRedis.
type RedisOptions struct {
	// Bin is the directory of redis-server (default /usr/bin).
	Bin string
	// Env is added to the servers' environment (LD_LIBRARY_PATH for an extracted build).
	Env []string
	// NoSentinel starts only the primary and the replica.
	NoSentinel bool
	// NoReplica starts only the primary (and no sentinel).
	NoReplica bool
	// Seed starts the seed's topology: two replicas and three sentinels with a quorum of two
	// (the default is one of each, quorum one).
	Seed bool
	// TLS makes the primary listen with TLS only (certificates signed by RedisSet.CAFile, for
	// 127.0.0.1); it implies NoReplica.
	TLS bool
	// Cluster starts the primary in cluster mode (cluster-enabled yes) as a one-node Redis
	// Cluster that serves all 16384 hash slots, and waits for cluster_state:ok; it implies
	// NoReplica.
	Cluster bool
}

// RedisServer is one running redis-server (or sentinel).
type RedisServer struct {
	Name     string
	Port     int
	Password string
	args     []string
	logFile  string
	proc     *process
	bin      string
	env      []string
	tls      *tls.Config // the test client's, when the server speaks TLS
}

// RedisSet is a primary, its replica and a sentinel.
type RedisSet struct {
	Dir      string
	Primary  *RedisServer
	Replica  *RedisServer // nil with NoReplica
	Sentinel *RedisServer // nil with NoSentinel or NoReplica
	// More are the second replica and the second and third sentinels of Seed.
	MoreReplicas, MoreSentinels []*RedisServer
	// CAFile is the CA that signed the servers' certificates (with RedisOptions.TLS).
	CAFile string
	// Version is the servers' version, major*10000 + minor*100 + patch (7.0.15 is 70015).
	Version int
}

// RedisRelease is a Redis release fetched from another Debian suite by
// scripts/redis-matrix.sh, runnable here without being installed.
type RedisRelease struct {
	Version string // "6.0"
	Bin     string
	Env     []string // LD_LIBRARY_PATH
}

// Options returns the options that start a set of this release.
func (r RedisRelease) Options() RedisOptions { return RedisOptions{Bin: r.Bin, Env: r.Env} }

// FetchRedis makes a Redis release of another Debian suite runnable (cached across runs);
// under -short it skips the test, and a failed fetch fails it.
func FetchRedis(t testing.TB, version string) RedisRelease {
	t.Helper()
	if testing.Short() {
		t.Skipf("Redis %s is a real server (skipped under -short)", version)
	}
	script := filepath.Join(repoRoot(), "scripts", "redis-matrix.sh")
	cmd := exec.Command(script, version)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, version, err, tail(errb.String(), 10))
	}
	f := strings.Fields(out.String())
	if len(f) != 3 || f[0] != version {
		t.Fatalf("%s %s printed %q", script, version, out.String())
	}
	return RedisRelease{Version: version, Bin: f[1], Env: []string{"LD_LIBRARY_PATH=" + f[2]}}
}

var redisVersionRe = regexp.MustCompile(`\bv=(\d+\.\d+\.\d+)`)

// redisVersion asks redis-server --version.
func redisVersion(bin string, env []string) (int, error) {
	cmd := exec.Command(bin, "--version")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	m := redisVersionRe.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("%s --version printed %q", bin, out)
	}
	return version.Number(m[1])
}

// Redis returns the package's Redis set (primary, replica, sentinel), starting it on first
// use. Tests that fail over or kill servers start their own set with StartRedis instead.
func (e *Env) Redis(t testing.TB) *RedisSet {
	t.Helper()
	return sharedServer(e, t, "redis", func() (*RedisSet, error) { return StartRedis(RedisOptions{}) })
}

// StartRedisT starts a set of the test's own, stopped when the test ends; under -short it
// skips the test.
func StartRedisT(t testing.TB, opts RedisOptions) *RedisSet {
	t.Helper()
	return startT(t, "Redis", func() (*RedisSet, error) { return StartRedis(opts) })
}

// Addr is the server's 127.0.0.1:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Client opens a client of the test's own (not the exporter's) to the server.
func (s *RedisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), Password: s.Password, Protocol: 2,
		DisableIdentity: true, MaxRetries: -1, PoolSize: 4, TLSConfig: s.tls})
}

// SentinelClient opens a sentinel client to the server.
func (s *RedisServer) SentinelClient() *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Addr(), Password: s.Password, Protocol: 2,
		DisableIdentity: true, MaxRetries: -1})
}

// StartRedis starts a primary, a replica and a sentinel in a new temp dir on free ports.
func StartRedis(opts RedisOptions) (set *RedisSet, err error) {
	if opts.Bin == "" {
		opts.Bin = "/usr/bin"
	}
	bin := filepath.Join(opts.Bin, "redis-server")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("no redis-server in %s (run `make deps`): %w", opts.Bin, err)
	}
	version, err := redisVersion(bin, opts.Env)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pe-redis-")
	if err != nil {
		return nil, err
	}
	set = &RedisSet{Dir: dir, Version: version}
	// the named result is nil when a step fails: stop what was started through a copy
	started := set
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	common := func(name string, port int) []string {
		d := filepath.Join(dir, name)
		args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", d,
			"--requirepass", RedisPassword, "--masterauth", RedisPassword,
			// the seed's settings
			"--maxmemory", "1536mb", "--maxmemory-policy", "allkeys-lru",
			// one rule per --save: 6.0 takes "900 1 300 10" as one quoted argument and drops it
			"--save", "900", "1", "--save", "300", "10", "--save", "60", "10000", "--stop-writes-on-bgsave-error", "yes",
			"--appendonly", "no",
			// test speed-up: no 5 s wait before a full sync
			"--repl-diskless-sync-delay", "0", "--latency-monitor-threshold", "0",
		}
		if version >= 70000 {
			// no save on the way out; DEBUG (SLEEP) for local clients, which 7.0 refuses
			// by default (before 7.0 it is always allowed)
			args = append(args, "--shutdown-on-sigterm", "nosave", "--enable-debug-command", "local")
		}
		return args
	}
	newServer := func(name string) (*RedisServer, error) {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		return &RedisServer{Name: name, Port: port, Password: RedisPassword, bin: bin, env: opts.Env,
			logFile: filepath.Join(dir, name+".log")}, nil
	}

	p, err := newServer("primary")
	if err != nil {
		return nil, err
	}
	p.args = common("primary", p.Port)
	if opts.TLS {
		opts.NoReplica = true
		ca, err := writeTestCerts(dir)
		if err != nil {
			return nil, err
		}
		set.CAFile = filepath.Join(dir, "ca.pem")
		p.tls = &tls.Config{RootCAs: ca, MinVersion: tls.VersionTLS12}
		p.args = append(p.args, "--port", "0", "--tls-port", strconv.Itoa(p.Port),
			"--tls-cert-file", filepath.Join(dir, "server.pem"), "--tls-key-file", filepath.Join(dir, "server.key"),
			"--tls-ca-cert-file", set.CAFile, "--tls-auth-clients", "no")
	}
	if opts.Cluster {
		opts.NoReplica = true
		p.args = append(p.args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "primary", "nodes.conf"))
	}
	if err := p.start(ctx); err != nil {
		return nil, err
	}
	set.Primary = p
	if opts.Cluster {
		if err := p.serveAllSlots(ctx); err != nil {
			return nil, err
		}
	}
	if opts.NoReplica {
		return set, nil
	}

	replicas, sentinels, quorum := 1, 1, 1
	if opts.Seed {
		replicas, sentinels, quorum = 2, 3, 2
	}
	var all []*RedisServer
	for i := range replicas {
		name := numbered("replica", i)
		r, err := newServer(name)
		if err != nil {
			return nil, err
		}
		r.args = append(common(name, r.Port), "--replicaof", "127.0.0.1", strconv.Itoa(p.Port))
		if err := r.start(ctx); err != nil {
			return nil, err
		}
		firstOrMore(r, &set.Replica, &set.MoreReplicas)
		all = append(all, r)
		if err := set.WaitReplicaLinked(ctx, r); err != nil {
			return nil, err
		}
	}
	if opts.NoSentinel {
		return set, nil
	}

	for i := range sentinels {
		name := numbered("sentinel", i)
		sn, err := newServer(name)
		if err != nil {
			return nil, err
		}
		sn.Password = RedisSentinelPassword
		// sentinel rewrites its configuration file: it needs one of its own, writable
		conf := filepath.Join(dir, name, "sentinel.conf")
		lines := []string{
			fmt.Sprintf("port %d", sn.Port),
			"bind 127.0.0.1",
			"dir " + filepath.Join(dir, name),
			"requirepass " + RedisSentinelPassword,
			fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d", RedisMasterName, p.Port, quorum),
			fmt.Sprintf("sentinel auth-pass %s %s", RedisMasterName, RedisPassword),
			fmt.Sprintf("sentinel down-after-milliseconds %s 5000", RedisMasterName),
			fmt.Sprintf("sentinel failover-timeout %s 60000", RedisMasterName),
			fmt.Sprintf("sentinel parallel-syncs %s 1", RedisMasterName),
		}
		if sentinels > 1 {
			// the sentinels of one set talk to each other with their password (Redis 6.2+)
			lines = append(lines, "sentinel sentinel-pass "+RedisSentinelPassword)
		}
		if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			return nil, err
		}
		sn.args = []string{conf, "--sentinel"}
		if err := sn.start(ctx); err != nil {
			return nil, err
		}
		firstOrMore(sn, &set.Sentinel, &set.MoreSentinels)
	}
	if err := set.WaitSentinelSees(ctx, p, all...); err != nil {
		return nil, err
	}
	if sentinels > 1 {
		if err := set.waitSentinelsKnowEachOther(ctx, sentinels); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// firstOrMore records a started replica or sentinel in the set: as the first of its kind
// (Replica, Sentinel), or after it (MoreReplicas, MoreSentinels). Recording each as soon as it
// runs lets Stop stop it when a later one fails to start.
func firstOrMore(s *RedisServer, first **RedisServer, more *[]*RedisServer) {
	if *first == nil {
		*first = s
	} else {
		*more = append(*more, s)
	}
}

// numbered names the i-th (from 0) server of a kind: replica, replica2, replica3, ...
func numbered(kind string, i int) string {
	if i == 0 {
		return kind
	}
	return fmt.Sprintf("%s%d", kind, i+1)
}

// start runs the server in the foreground and waits until it answers PING.
func (s *RedisServer) start(ctx context.Context) error {
	cmd := exec.Command(s.bin, s.args...)
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	c := s.Client()
	defer c.Close()
	var err error
	s.proc, err = startServer(ctx, "redis "+s.Name, cmd, s.logFile, 30*time.Second, func() error {
		return c.Ping(ctx).Err()
	})
	return err
}

// serveAllSlots assigns every hash slot to s, a node in cluster mode, and waits until the
// cluster (of this one node) is ok.
func (s *RedisServer) serveAllSlots(ctx context.Context) error {
	c := s.Client()
	defer c.Close()
	slots := make([]int, 16384)
	for i := range slots {
		slots[i] = i
	}
	// ADDSLOTS with every slot: ADDSLOTSRANGE is 7.0+
	if err := c.ClusterAddSlots(ctx, slots...).Err(); err != nil {
		return fmt.Errorf("redis %s: CLUSTER ADDSLOTS: %w", s.Name, err)
	}
	return poll(ctx, 30*time.Second, func() error {
		info, err := c.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("redis %s: the cluster is not ok yet", s.Name)
		}
		return nil
	})
}

// Start starts a stopped server again on the same port, with the same arguments.
func (s *RedisServer) Start() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.start(ctx)
}

// Stop stops the server (SIGTERM) and waits for it.
func (s *RedisServer) Stop() { s.proc.stop(syscall.SIGTERM, 10*time.Second) }

// Kill kills the server (SIGKILL): a crash.
func (s *RedisServer) Kill() { s.proc.stop(syscall.SIGKILL, 10*time.Second) }

// Freeze stops the server with SIGSTOP: its port still accepts connections, nothing answers
// (a hung host). The returned function resumes it.
func (s *RedisServer) Freeze() (resume func()) {
	_ = s.proc.cmd.Process.Signal(syscall.SIGSTOP)
	return func() { _ = s.proc.cmd.Process.Signal(syscall.SIGCONT) }
}

// Stop stops every server and removes the directory.
func (s *RedisSet) Stop() {
	all := append(append(append([]*RedisServer{}, s.MoreSentinels...), s.Sentinel), s.MoreReplicas...)
	for _, srv := range append(all, s.Replica, s.Primary) {
		if srv != nil && srv.proc != nil {
			srv.Stop()
		}
	}
	os.RemoveAll(s.Dir)
}

// WaitReplicaLinked waits until r replicates with its link up.
func (s *RedisSet) WaitReplicaLinked(ctx context.Context, r *RedisServer) error {
	c := r.Client()
	defer c.Close()
	return poll(ctx, 30*time.Second, func() error {
		info, err := c.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return fmt.Errorf("replica %s: the link to its primary is not up", r.Name)
		}
		return nil
	})
}

// waitSentinelsKnowEachOther waits until the first sentinel counts n sentinels (itself
// included) for the master, so that a quorum can be reached.
func (s *RedisSet) waitSentinelsKnowEachOther(ctx context.Context, n int) error {
	c := s.Sentinel.SentinelClient()
	defer c.Close()
	return poll(ctx, 60*time.Second, func() error {
		m, err := c.Master(ctx, RedisMasterName).Result()
		if err != nil {
			return err
		}
		if m["num-other-sentinels"] != strconv.Itoa(n-1) {
			return fmt.Errorf("the sentinel knows %s other sentinels, want %d", m["num-other-sentinels"], n-1)
		}
		return nil
	})
}

// WaitSentinelSees waits until the sentinel names primary as the master and knows the
// replicas, so that a failover can pick one.
func (s *RedisSet) WaitSentinelSees(ctx context.Context, primary *RedisServer, replicas ...*RedisServer) error {
	c := s.Sentinel.SentinelClient()
	defer c.Close()
	return poll(ctx, 60*time.Second, func() error {
		addr, err := c.GetMasterAddrByName(ctx, RedisMasterName).Result()
		if err != nil {
			return err
		}
		if len(addr) != 2 || addr[1] != strconv.Itoa(primary.Port) {
			return fmt.Errorf("the sentinel names %v as the master, not port %d", addr, primary.Port)
		}
		reps, err := c.Replicas(ctx, RedisMasterName).Result()
		if err != nil {
			return err
		}
		for _, r := range replicas {
			found := false
			for _, m := range reps {
				if m["port"] == strconv.Itoa(r.Port) && !strings.Contains(m["flags"], "down") && !strings.Contains(m["flags"], "disconnected") && m["master-link-status"] == "ok" {
					found = true
				}
			}
			if !found {
				return fmt.Errorf("the sentinel does not see replica %s up yet", r.Name)
			}
		}
		return nil
	})
}

// Failover makes the sentinel fail over (SENTINEL FAILOVER) and waits until the replica is
// the primary and the sentinel names it as the master; Primary and Replica are swapped to
// match. The old primary is turned into a replica by the sentinel later (it notices within
// its 10 s INFO period); WaitReplicaLinked waits for that.
func (s *RedisSet) Failover(ctx context.Context) error {
	if s.Sentinel == nil || s.Replica == nil {
		return errors.New("a failover needs a sentinel and a replica")
	}
	c := s.Sentinel.SentinelClient()
	defer c.Close()
	if err := c.Failover(ctx, RedisMasterName).Err(); err != nil {
		return fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	s.Primary, s.Replica = s.Replica, s.Primary
	nc := s.Primary.Client()
	defer nc.Close()
	return poll(ctx, 60*time.Second, func() error {
		info, err := nc.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "role:master") {
			return errors.New("the new primary is not a master yet")
		}
		addr, err := c.GetMasterAddrByName(ctx, RedisMasterName).Result()
		if err != nil {
			return err
		}
		if len(addr) != 2 || addr[1] != strconv.Itoa(s.Primary.Port) {
			return fmt.Errorf("the sentinel still names %v as the master", addr)
		}
		return nil
	})
}

// writeTestCerts writes a CA (ca.pem) and a server certificate for 127.0.0.1 signed by it
// (server.pem, server.key) into dir, and returns the CA as a pool.
func writeTestCerts(dir string) (*x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "persistence_exporter test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem": {Type: "CERTIFICATE", Bytes: caDER}, "server.pem": {Type: "CERTIFICATE", Bytes: der},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: kb},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, nil
}
