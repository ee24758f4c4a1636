package config

import (
	"fmt"
	"net"
)

// Redis is a Redis server, or a primary found through sentinels.
type Redis struct {
	Name         string `yaml:"name"`
	Addr         string `yaml:"addr"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// SentinelMaster makes Addr a sentinel, through which the current primary of this master
	// name is found.
	SentinelMaster string `yaml:"sentinel_master"`

	Password string `yaml:"-"`
}

func (v *validator) redis(path []any, r *Redis) {
	v.name(path, "redis", r.Name)
	if r.Addr == "" {
		v.errorf(path, "redis target %q needs addr (host:port)", r.Name)
	} else if _, _, err := net.SplitHostPort(r.Addr); err != nil {
		v.errorf(at(path, "addr"), "redis target %q: addr %q is not host:port", r.Name, r.Addr)
	}
	r.Password = v.oneSecret(path, fmt.Sprintf("redis target %q password", r.Name), false, "", "", r.PasswordFile, "password_file", r.PasswordEnv, "password_env")
	v.c.secrets = append(v.c.secrets, r.Password)
}
