package redis

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

// Kind is the Redis source kind: redis bodies (a command and how its reply becomes rows),
// queries for sentinels too, and the servers of targets.redis.
func Kind() kind.Kind {
	return kind.Of[Target](packKind(), "redis_up")
}

// Target is a Redis server or sentinel of the configuration (addr), or the current primary
// of a master that sentinels monitor (sentinel_master with sentinels).
type Target struct {
	config.Base `yaml:",inline"`
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

	// TLS turns TLS on (as rediss:// does) and sets how the server is verified, for the
	// sentinels too.
	TLS *config.TLS `yaml:"tls"`
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

// SetDirectory makes the relative paths relative to dir.
func (r *Target) SetDirectory(dir string) {
	r.PasswordFile = promconfig.JoinDir(dir, r.PasswordFile)
	r.SentinelPasswordFile = promconfig.JoinDir(dir, r.SentinelPasswordFile)
	r.TLS.SetDirectory(dir)
}

// Check checks the target and resolves its address, passwords and TLS.
func (r *Target) Check(c *config.Check) {
	r.Password = c.Secret("password", false, config.InFile("password_file", r.PasswordFile), config.InEnv("password_env", r.PasswordEnv))
	r.SentinelPassword = c.Secret("sentinel password", false,
		config.InFile("sentinel_password_file", r.SentinelPasswordFile), config.InEnv("sentinel_password_env", r.SentinelPasswordEnv))
	c.Secrets(r.Password, r.SentinelPassword)

	useTLS := r.TLS != nil
	switch {
	case r.SentinelMaster != "":
		if r.Addr != "" {
			c.Errorf([]any{"addr"}, "%s: with sentinel_master, list the sentinels under sentinels instead of addr", c.Subject())
		}
		if len(r.Sentinels) == 0 {
			c.Errorf([]any{"sentinel_master"}, "%s: sentinel_master needs sentinels (host:port of each sentinel)", c.Subject())
		}
		for i, s := range r.Sentinels {
			if _, _, err := net.SplitHostPort(s); err != nil {
				c.Errorf([]any{"sentinels", i}, "%s: sentinel %q is not host:port", c.Subject(), s)
			}
		}
	case len(r.Sentinels) > 0:
		c.Errorf([]any{"sentinels"}, "%s: sentinels need sentinel_master (the master name they monitor)", c.Subject())
	case r.Addr == "":
		c.Errorf(nil, "%s needs addr (host:port, or a redis:// or rediss:// URL)", c.Subject())
	case strings.Contains(r.Addr, "://"):
		useTLS = r.checkURL(c) || useTLS
	default:
		if _, _, err := net.SplitHostPort(r.Addr); err != nil {
			c.Errorf([]any{"addr"}, "%s: addr %q is not host:port", c.Subject(), r.Addr)
		}
		r.HostPort = r.Addr
	}
	if r.SentinelUsername != "" && r.SentinelPassword == "" {
		c.Errorf([]any{"sentinel_username"}, "%s: sentinel_username needs sentinel_password_file or sentinel_password_env", c.Subject())
	}
	if (r.SentinelPasswordFile != "" || r.SentinelPasswordEnv != "") && r.SentinelMaster == "" {
		c.Errorf(nil, "%s: a sentinel password is only for a sentinel_master target (a sentinel given as addr takes password_file or password_env)", c.Subject())
	}
	if r.DB < 0 {
		c.Errorf([]any{"db"}, "%s: db %d must not be negative", c.Subject(), r.DB)
	}
	c.Cap("pool_size", &r.PoolSize, DefaultPoolSize, 10, "server")
	c.Duration("timeout", &r.Timeout, DefaultTimeout)
	if useTLS {
		t := config.TLS{}
		if r.TLS != nil {
			t = *r.TLS
		}
		if t.ServerName == "" && r.HostPort != "" {
			t.ServerName, _, _ = net.SplitHostPort(r.HostPort)
		}
		r.TLSConfig = c.TLS("tls", t)
	}
}

// checkURL checks a redis:// or rediss:// addr with go-redis' own parser and reports whether
// it asks for TLS. A password found in the text, even one the parsers cannot read, is
// registered as a secret and refused before anything is parsed; every message quotes the
// address and the parser's error redacted.
func (r *Target) checkURL(c *config.Check) bool {
	var red secret.Redactor
	passwords := secret.DSNPasswords(r.Addr)
	red.Add(passwords...)
	c.Secrets(passwords...)
	if len(passwords) > 0 {
		c.Errorf([]any{"addr"}, "%s: the URL holds a password: use password_file or password_env", c.Subject())
		return false
	}
	addr := red.String(r.Addr)
	u, err := url.Parse(r.Addr)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the url.Error quotes the address again
		}
		c.Errorf([]any{"addr"}, "%s: addr %q is not a URL: %s", c.Subject(), addr, red.String(err.Error()))
		return false
	}
	opts, err := redis.ParseURL(r.Addr)
	if err != nil {
		c.Errorf([]any{"addr"}, "%s: addr %q: %s", c.Subject(), addr, red.String(strings.TrimPrefix(err.Error(), "redis: ")))
		return false
	}
	if opts.Network != "tcp" {
		c.Errorf([]any{"addr"}, "%s: addr %q: want redis:// or rediss://", c.Subject(), addr)
		return false
	}
	r.HostPort = opts.Addr
	if opts.Username != "" && r.Username == "" {
		r.Username = opts.Username
	}
	if opts.DB != 0 {
		if r.DB != 0 && r.DB != opts.DB {
			c.Errorf([]any{"db"}, "%s: db %d differs from the URL's database %d", c.Subject(), r.DB, opts.DB)
		}
		r.DB = opts.DB
	}
	if opts.TLSConfig != nil && r.TLS == nil {
		r.TLS = &config.TLS{}
	}
	if u.Scheme == "redis" && r.TLS != nil {
		c.Errorf([]any{"tls"}, "%s: tls is set but addr says redis:// (use rediss://)", c.Subject())
	}
	return opts.TLSConfig != nil
}

// Build makes the target's source.
func (r *Target) Build(env *kind.Env) (*kind.Built, error) {
	// go-redis' own messages (sentinel discovery, a switch of master) into our log
	SetLogger(env.ExporterLog)
	src, err := New(Options{
		Addr:             r.HostPort,
		Username:         r.Username,
		Password:         r.Password,
		DB:               r.DB,
		TLS:              r.TLSConfig,
		SentinelMaster:   r.SentinelMaster,
		SentinelAddrs:    r.Sentinels,
		SentinelUsername: r.SentinelUsername,
		SentinelPassword: r.SentinelPassword,
		PoolSize:         r.PoolSize,
		Timeout:          r.Timeout,
	})
	if err != nil {
		return nil, err
	}
	return &kind.Built{Source: src, Timeout: r.Timeout, Parallel: r.PoolSize, Address: r.Address()}, nil
}

// Address describes the target for people (landing page, logs): never a secret.
func (r *Target) Address() string {
	scheme := ""
	if r.TLSConfig != nil {
		scheme = "rediss://"
	}
	if r.SentinelMaster != "" {
		return fmt.Sprintf("%s%s via sentinels %s", scheme, r.SentinelMaster, strings.Join(r.Sentinels, ", "))
	}
	return scheme + r.HostPort
}
