package config

import (
	"fmt"
	"net/url"
	"os"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

// Elasticsearch is a cluster.
type Elasticsearch struct {
	Name         string   `yaml:"name"`
	URLs         []string `yaml:"urls"`
	Username     string   `yaml:"username"`
	PasswordFile string   `yaml:"password_file"`
	PasswordEnv  string   `yaml:"password_env"`
	APIKeyFile   string   `yaml:"api_key_file"`
	APIKeyEnv    string   `yaml:"api_key_env"`
	CAFile       string   `yaml:"ca_file"`

	Password string `yaml:"-"`
	APIKey   string `yaml:"-"`
}

func (v *validator) elasticsearch(path []any, e *Elasticsearch) {
	v.name(path, "elasticsearch", e.Name)
	if len(e.URLs) == 0 {
		v.errorf(path, "elasticsearch target %q needs urls", e.Name)
	}
	for i, raw := range e.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errorf(append(at(path, "urls"), i), "elasticsearch target %q: %q is not an http(s) URL", e.Name, redactURL(raw))
			continue
		}
		if p, ok := u.User.Password(); ok {
			v.c.secrets = append(v.c.secrets, p)
		}
	}
	e.Password = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q password", e.Name), false, "", "", e.PasswordFile, "password_file", e.PasswordEnv, "password_env")
	e.APIKey = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q API key", e.Name), false, "", "", e.APIKeyFile, "api_key_file", e.APIKeyEnv, "api_key_env")
	v.c.secrets = append(v.c.secrets, e.Password, e.APIKey)
	if e.CAFile != "" {
		if _, err := os.Stat(e.CAFile); err != nil {
			v.errorf(at(path, "ca_file"), "ca_file %q: %s", e.CAFile, osReason(err))
		}
	}
}

func redactURL(raw string) string {
	var r secret.Redactor
	r.Add(secret.DSNPasswords(raw)...)
	return r.String(raw)
}
