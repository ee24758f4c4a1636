package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

// Redis is a Redis server or sentinel (addr), or the current primary of a master that sentinels
// monitor (sentinel_master with sentinels).
type Redis struct {
	Name string `yaml:"name"`
	// Cluster names the deployment the target belongs to (the PostgreSQL cluster's name):
	// the advisor reports its findings with that deployment's.
	Cluster string `yaml:"cluster"`
	// Addr is host:port, or a redis:// or rediss:// URL (rediss: TLS; the path may name the
	// database). Passwords do not go into the URL: use password_file or password_env.
	Addr string `yaml:"addr"`
	// Username is the ACL user (Redis 6+); without it the password is the default user's.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// DB is the database the cache-namespace audit scans (default 0).
	DB int `yaml:"db"`

	// SentinelMaster makes the target the current primary of this master name, found through
	// Sentinels; a failover is followed without a change here.
	SentinelMaster       string   `yaml:"sentinel_master"`
	Sentinels            []string `yaml:"sentinels"`
	SentinelUsername     string   `yaml:"sentinel_username"`
	SentinelPasswordFile string   `yaml:"sentinel_password_file"`
	SentinelPasswordEnv  string   `yaml:"sentinel_password_env"`

	// TLS turns TLS on (as rediss:// does) and sets how the server is verified.
	TLS *RedisTLS `yaml:"tls"`
	// PoolSize caps the connections to the server (default 2); queries run that many at once.
	PoolSize int `yaml:"pool_size"`
	// Timeout bounds dialing, each command and the probe (default 5s), unless a query of the
	// pack sets its own timeout.
	Timeout time.Duration `yaml:"timeout"`

	// Resolved on load.
	HostPort         string      `yaml:"-"` // the server's host:port (empty with SentinelMaster)
	Password         string      `yaml:"-"`
	SentinelPassword string      `yaml:"-"`
	TLSConfig        *tls.Config `yaml:"-"` // nil: no TLS
}

// RedisTLS configures TLS to a Redis target (and its sentinels).
type RedisTLS struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Defaults for Redis targets.
const (
	DefaultRedisPoolSize = 2
	DefaultRedisTimeout  = 5 * time.Second
)

func (v *validator) redis(path []any, r *Redis) {
	v.name(path, "redis", r.Name)
	r.Password = v.oneSecret(path, fmt.Sprintf("redis target %q password", r.Name), false, "", "", r.PasswordFile, "password_file", r.PasswordEnv, "password_env")
	r.SentinelPassword = v.oneSecret(path, fmt.Sprintf("redis target %q sentinel password", r.Name), false, "", "",
		r.SentinelPasswordFile, "sentinel_password_file", r.SentinelPasswordEnv, "sentinel_password_env")
	v.c.secrets = append(v.c.secrets, r.Password, r.SentinelPassword)

	useTLS := r.TLS != nil
	switch {
	case r.SentinelMaster != "":
		if r.Addr != "" {
			v.errorf(at(path, "addr"), "redis target %q: with sentinel_master, list the sentinels under sentinels instead of addr", r.Name)
		}
		if len(r.Sentinels) == 0 {
			v.errorf(at(path, "sentinel_master"), "redis target %q: sentinel_master needs sentinels (host:port of each sentinel)", r.Name)
		}
		for i, s := range r.Sentinels {
			if _, _, err := net.SplitHostPort(s); err != nil {
				v.errorf(append(at(path, "sentinels"), i), "redis target %q: sentinel %q is not host:port", r.Name, s)
			}
		}
	case len(r.Sentinels) > 0:
		v.errorf(at(path, "sentinels"), "redis target %q: sentinels need sentinel_master (the master name they monitor)", r.Name)
	case r.Addr == "":
		v.errorf(path, "redis target %q needs addr (host:port, or a redis:// or rediss:// URL)", r.Name)
	case strings.Contains(r.Addr, "://"):
		useTLS = v.redisURL(path, r) || useTLS
	default:
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			v.errorf(at(path, "addr"), "redis target %q: addr %q is not host:port", r.Name, r.Addr)
		}
		r.HostPort = r.Addr
	}
	if r.SentinelUsername != "" && r.SentinelPassword == "" {
		v.errorf(at(path, "sentinel_username"), "redis target %q: sentinel_username needs sentinel_password_file or sentinel_password_env", r.Name)
	}
	if (r.SentinelPasswordFile != "" || r.SentinelPasswordEnv != "") && r.SentinelMaster == "" {
		v.errorf(path, "redis target %q: a sentinel password is only for a sentinel_master target (a sentinel given as addr takes password_file or password_env)", r.Name)
	}
	if r.DB < 0 {
		v.errorf(at(path, "db"), "redis target %q: db %d must not be negative", r.Name, r.DB)
	}
	if r.PoolSize == 0 {
		r.PoolSize = DefaultRedisPoolSize
	}
	if r.PoolSize < 1 || r.PoolSize > 10 {
		v.errorf(at(path, "pool_size"), "pool_size %d: want 1 to 10 (the exporter should stay cheap on the server)", r.PoolSize)
	}
	v.duration(path, "timeout", &r.Timeout, DefaultRedisTimeout)
	if useTLS {
		r.TLSConfig = v.redisTLS(at(path, "tls"), r)
	}
}

// redisURL checks a redis:// or rediss:// addr with go-redis' own parser and reports whether it
// asks for TLS. A password found in the text, even one the parsers cannot read, is registered
// as a secret and refused before anything is parsed; every message quotes the address and the
// parser's error redacted.
func (v *validator) redisURL(path []any, r *Redis) bool {
	var red secret.Redactor
	passwords := secret.DSNPasswords(r.Addr)
	red.Add(passwords...)
	v.c.secrets = append(v.c.secrets, passwords...)
	if len(passwords) > 0 {
		v.errorf(at(path, "addr"), "redis target %q: the URL holds a password: use password_file or password_env", r.Name)
		return false
	}
	addr := red.String(r.Addr)
	u, err := url.Parse(r.Addr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error quotes the address again
		}
		v.errorf(at(path, "addr"), "redis target %q: addr %q is not a URL: %s", r.Name, addr, red.String(err.Error()))
		return false
	}
	opts, err := redis.ParseURL(r.Addr)
	if err != nil {
		v.errorf(at(path, "addr"), "redis target %q: addr %q: %s", r.Name, addr, red.String(strings.TrimPrefix(err.Error(), "redis: ")))
		return false
	}
	if opts.Network != "tcp" {
		v.errorf(at(path, "addr"), "redis target %q: addr %q: want redis:// or rediss://", r.Name, addr)
		return false
	}
	r.HostPort = opts.Addr
	if opts.Username != "" && r.Username == "" {
		r.Username = opts.Username
	}
	if opts.DB != 0 {
		if r.DB != 0 && r.DB != opts.DB {
			v.errorf(at(path, "db"), "redis target %q: db %d differs from the URL's database %d", r.Name, r.DB, opts.DB)
		}
		r.DB = opts.DB
	}
	if opts.TLSConfig != nil && r.TLS == nil {
		r.TLS = &RedisTLS{}
	}
	if u.Scheme == "redis" && r.TLS != nil {
		v.errorf(at(path, "tls"), "redis target %q: tls is set but addr says redis:// (use rediss://)", r.Name)
	}
	return opts.TLSConfig != nil
}

func (v *validator) redisTLS(path []any, r *Redis) *tls.Config {
	t := r.TLS
	if t == nil {
		t = &RedisTLS{}
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify}
	if cfg.ServerName == "" && r.HostPort != "" {
		cfg.ServerName, _, _ = net.SplitHostPort(r.HostPort)
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		switch {
		case err != nil:
			v.errorf(at(path, "ca_file"), "ca_file %q: %s", t.CAFile, osReason(err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				v.errorf(at(path, "ca_file"), "ca_file %q holds no PEM certificate", t.CAFile)
			}
			cfg.RootCAs = pool
		}
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		v.errorf(path, "redis target %q: tls needs both cert_file and key_file, or neither", r.Name)
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				v.errorf(path, "tls %s: %s", pe.Path, osReason(err))
			} else {
				v.errorf(at(path, "cert_file"), "cert_file %q and key_file %q: %v", t.CertFile, t.KeyFile, err)
			}
		} else {
			cfg.Certificates = []tls.Certificate{cert}
		}
	}
	return cfg
}

// Address describes the target for people (landing page, logs): never a secret.
func (r *Redis) Address() string {
	scheme := ""
	if r.TLSConfig != nil {
		scheme = "rediss://"
	}
	if r.SentinelMaster != "" {
		return fmt.Sprintf("%s%s via sentinels %s", scheme, r.SentinelMaster, strings.Join(r.Sentinels, ", "))
	}
	return scheme + r.HostPort
}
