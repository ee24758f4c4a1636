package config

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/size"
)

// Elasticsearch is a cluster.
type Elasticsearch struct {
	Name string   `yaml:"name"`
	URLs []string `yaml:"urls"`
	// Cluster names the deployment the target belongs to (the PostgreSQL cluster's name):
	// the advisor reports its findings with that deployment's.
	Cluster string `yaml:"cluster"`
	// Username and a password (from a file or an environment variable) for basic auth, or an
	// API key: the "encoded" value Elasticsearch returns, or id:api_key.
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	APIKeyFile   string `yaml:"api_key_file"`
	APIKeyEnv    string `yaml:"api_key_env"`
	// CAFile is PEM: the authorities that sign the cluster's certificates.
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// Indices are the index patterns per-index metrics are collected for, default
	// temporal_visibility_v1_*; [] collects none.
	Indices []string `yaml:"indices"`
	// SLMPolicies and SnapshotRepositories name what the snapshot queries watch; without them
	// those queries are not sent.
	SLMPolicies          []string `yaml:"slm_policies"`
	SnapshotRepositories []string `yaml:"snapshot_repositories"`
	// QueryTimeout bounds each request (unless its pack query sets another) and the probe.
	QueryTimeout time.Duration `yaml:"query_timeout"`
	// MaxConnections caps the requests in flight to the cluster.
	MaxConnections int `yaml:"max_connections"`
	// MaxBodyBytes caps the size of one answer, as a size (8MiB, 512KiB, 1048576); a larger
	// answer fails the queries that read it. Unset, the source's default (8MiB) applies.
	MaxBodyBytes string `yaml:"max_body_bytes"`

	Password string `yaml:"-"`
	APIKey   string `yaml:"-"`
	CACert   []byte `yaml:"-"`
	// MaxBody is MaxBodyBytes in bytes, 0 when unset.
	MaxBody int64 `yaml:"-"`
}

// The bounds of max_body_bytes: GET / alone is about 500 bytes, and an answer is held whole
// while it is decoded.
const (
	MinMaxBodyBytes size.Bytes = 64 << 10
	MaxMaxBodyBytes size.Bytes = 1 << 30
)

// DefaultIndexPatterns are the indices of Temporal's advanced visibility.
var DefaultIndexPatterns = []string{"temporal_visibility_v1_*"}

// Lists are the target's lists that pack paths name as placeholders ({indices}, ...).
func (e *Elasticsearch) Lists() map[string][]string {
	return map[string][]string{
		"indices":               e.Indices,
		"slm_policies":          e.SLMPolicies,
		"snapshot_repositories": e.SnapshotRepositories,
	}
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
		// https://elastic@host:9200 with password_env: the URL names the user
		if name := u.User.Username(); e.Username == "" && name != "" && i == 0 && (e.PasswordFile != "" || e.PasswordEnv != "") {
			e.Username = name
		}
	}
	e.Password = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q password", e.Name), false, "", "", e.PasswordFile, "password_file", e.PasswordEnv, "password_env")
	e.APIKey = v.oneSecret(path, fmt.Sprintf("elasticsearch target %q API key", e.Name), false, "", "", e.APIKeyFile, "api_key_file", e.APIKeyEnv, "api_key_env")
	v.c.secrets = append(v.c.secrets, e.Password, e.APIKey)
	if e.Password != "" {
		// what goes over the wire, should anything ever print a header
		v.c.secrets = append(v.c.secrets, base64.StdEncoding.EncodeToString([]byte(e.Username+":"+e.Password)))
	}
	if strings.Contains(e.APIKey, ":") {
		v.c.secrets = append(v.c.secrets, base64.StdEncoding.EncodeToString([]byte(e.APIKey)))
		if _, key, _ := strings.Cut(e.APIKey, ":"); key != "" {
			v.c.secrets = append(v.c.secrets, key)
		}
	}
	switch {
	case (e.PasswordFile != "" || e.PasswordEnv != "") && (e.APIKeyFile != "" || e.APIKeyEnv != ""):
		v.errorf(path, "elasticsearch target %q: use a password or an API key, not both", e.Name)
	case (e.PasswordFile != "" || e.PasswordEnv != "") && e.Username == "":
		v.errorf(path, "elasticsearch target %q: a password needs a username (username, or the user in the URL)", e.Name)
	case e.Username != "" && e.PasswordFile == "" && e.PasswordEnv == "":
		v.errorf(at(path, "username"), "elasticsearch target %q: username %q needs password_file or password_env", e.Name, e.Username)
	}
	if e.CAFile != "" {
		if pem, err := os.ReadFile(e.CAFile); err != nil {
			v.errorf(at(path, "ca_file"), "ca_file %q: %s", e.CAFile, osReason(err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			v.errorf(at(path, "ca_file"), "ca_file %q has no PEM certificate", e.CAFile)
		} else {
			e.CACert = pem
		}
		if e.InsecureSkipVerify {
			v.errorf(at(path, "insecure_skip_verify"), "elasticsearch target %q: insecure_skip_verify ignores ca_file: set one", e.Name)
		}
	}
	if e.Indices == nil {
		e.Indices = DefaultIndexPatterns
	}
	v.nameList(path, "indices", e.Indices, true)
	v.nameList(path, "slm_policies", e.SLMPolicies, false)
	v.nameList(path, "snapshot_repositories", e.SnapshotRepositories, false)
	v.duration(path, "query_timeout", &e.QueryTimeout, DefaultQueryTimeout)
	if e.MaxConnections == 0 {
		e.MaxConnections = DefaultMaxConnections
	}
	if e.MaxConnections < 1 || e.MaxConnections > 20 {
		v.errorf(at(path, "max_connections"), "max_connections %d: want 1 to 20 (the exporter should stay cheap on the cluster)", e.MaxConnections)
	}
	if e.MaxBodyBytes != "" {
		// a string parsed here rather than a size type decoding itself: a decoding error of
		// such a type stops the decoding of the file and leaves the target nil
		b, err := size.Parse(e.MaxBodyBytes)
		switch {
		case err != nil:
			v.errorf(at(path, "max_body_bytes"), "max_body_bytes: %v", err)
		case b < MinMaxBodyBytes || b > MaxMaxBodyBytes:
			v.errorf(at(path, "max_body_bytes"), "max_body_bytes %s: want 64KiB to 1GiB (an answer is decoded whole, several times its size in memory)", e.MaxBodyBytes)
		default:
			e.MaxBody = int64(b)
		}
	}
}

// names checks a list that goes into a request path: Elasticsearch index, policy and
// repository names cannot hold these characters, and a leading _ would name an API.
func (v *validator) nameList(path []any, key string, list []string, pattern bool) {
	bad := ` "\/?<>|#,{}`
	if !pattern {
		bad += "*"
	}
	for i, n := range list {
		p := append(at(path, key), i)
		switch {
		case n == "":
			v.errorf(p, "%s: an empty name", key)
		case strings.ContainsAny(n, bad) || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' }):
			v.errorf(p, "%s: %q has a character Elasticsearch names cannot have (one of %s or a space)", key, n, strings.TrimSpace(bad))
		case strings.HasPrefix(n, "_"):
			v.errorf(p, "%s: %q starts with _, which would name an Elasticsearch API in the request path", key, n)
		}
	}
}

func redactURL(raw string) string {
	var r secret.Redactor
	r.Add(secret.DSNPasswords(raw)...)
	return r.String(raw)
}
