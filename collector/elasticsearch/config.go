package elasticsearch

import (
	"crypto/tls"
	"encoding/base64"
	"net/url"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/size"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Kind is the Elasticsearch source kind: http bodies, and the clusters of
// targets.elasticsearch.
func Kind() kind.Kind {
	return kind.Of[Target](jsonrows.Kind[HTTP](queries.SourceElasticsearch, "http"), "elasticsearch_up")
}

// Target is an Elasticsearch cluster of the configuration (targets.elasticsearch).
type Target struct {
	config.Base `yaml:",inline"`
	URLs        []string `yaml:"urls"`
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
	// TLSConfig verifies the cluster with CAFile or not at all; nil: the system's authorities.
	TLSConfig *tls.Config `yaml:"-"`
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
func (e *Target) Lists() map[string][]string {
	return map[string][]string{
		"indices":               e.Indices,
		"slm_policies":          e.SLMPolicies,
		"snapshot_repositories": e.SnapshotRepositories,
	}
}

// SetDirectory makes the relative paths relative to dir.
func (e *Target) SetDirectory(dir string) {
	for _, p := range []*string{&e.PasswordFile, &e.APIKeyFile, &e.CAFile} {
		*p = promconfig.JoinDir(dir, *p)
	}
}

// Check checks the target and resolves its credentials and TLS.
func (e *Target) Check(c *config.Check) {
	if len(e.URLs) == 0 {
		c.Errorf(nil, "%s needs urls", c.Subject())
	}
	for i, raw := range e.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.Errorf([]any{"urls", i}, "%s: %q is not an http(s) URL", c.Subject(), redactURL(raw))
			continue
		}
		if p, ok := u.User.Password(); ok {
			c.Secrets(p)
		}
		// https://elastic@host:9200 with password_env: the URL names the user
		if name := u.User.Username(); e.Username == "" && name != "" && i == 0 && (e.PasswordFile != "" || e.PasswordEnv != "") {
			e.Username = name
		}
	}
	e.Password = c.Secret("password", false, config.InFile("password_file", e.PasswordFile), config.InEnv("password_env", e.PasswordEnv))
	e.APIKey = c.Secret("API key", false, config.InFile("api_key_file", e.APIKeyFile), config.InEnv("api_key_env", e.APIKeyEnv))
	c.Secrets(e.Password, e.APIKey)
	if e.Password != "" {
		// what goes over the wire, should anything ever print a header
		c.Secrets(base64.StdEncoding.EncodeToString([]byte(e.Username + ":" + e.Password)))
	}
	if strings.Contains(e.APIKey, ":") {
		c.Secrets(base64.StdEncoding.EncodeToString([]byte(e.APIKey)))
		if _, key, _ := strings.Cut(e.APIKey, ":"); key != "" {
			c.Secrets(key)
		}
	}
	switch {
	case (e.PasswordFile != "" || e.PasswordEnv != "") && (e.APIKeyFile != "" || e.APIKeyEnv != ""):
		c.Errorf(nil, "%s: use a password or an API key, not both", c.Subject())
	case (e.PasswordFile != "" || e.PasswordEnv != "") && e.Username == "":
		c.Errorf(nil, "%s: a password needs a username (username, or the user in the URL)", c.Subject())
	case e.Username != "" && e.PasswordFile == "" && e.PasswordEnv == "":
		c.Errorf([]any{"username"}, "%s: username %q needs password_file or password_env", c.Subject(), e.Username)
	}
	if e.CAFile != "" || e.InsecureSkipVerify {
		e.TLSConfig = c.TLS("", config.TLS{CAFile: e.CAFile, InsecureSkipVerify: e.InsecureSkipVerify})
	}
	if e.CAFile != "" && e.InsecureSkipVerify {
		c.Errorf([]any{"insecure_skip_verify"}, "%s: insecure_skip_verify ignores ca_file: set one", c.Subject())
	}
	if e.Indices == nil {
		e.Indices = DefaultIndexPatterns
	}
	nameList(c, "indices", e.Indices, true)
	nameList(c, "slm_policies", e.SLMPolicies, false)
	nameList(c, "snapshot_repositories", e.SnapshotRepositories, false)
	c.Duration("query_timeout", &e.QueryTimeout, DefaultTimeout)
	c.Cap("max_connections", &e.MaxConnections, DefaultMaxConns, 20, "cluster")
	if e.MaxBodyBytes != "" {
		// a string parsed here rather than a size type decoding itself: a decoding error of
		// such a type stops the decoding of the file and leaves the target nil
		b, err := size.Parse(e.MaxBodyBytes)
		switch {
		case err != nil:
			c.Errorf([]any{"max_body_bytes"}, "max_body_bytes: %v", err)
		case b < MinMaxBodyBytes || b > MaxMaxBodyBytes:
			c.Errorf([]any{"max_body_bytes"}, "max_body_bytes %s: want 64KiB to 1GiB (an answer is decoded whole, several times its size in memory)", e.MaxBodyBytes)
		default:
			e.MaxBody = int64(b)
		}
	}
}

// nameList checks a list that goes into a request path: Elasticsearch index, policy and
// repository names cannot hold these characters, and a leading _ would name an API.
func nameList(c *config.Check, key string, list []string, pattern bool) {
	bad := ` "\/?<>|#,{}`
	if !pattern {
		bad += "*"
	}
	for i, n := range list {
		p := []any{key, i}
		switch {
		case n == "":
			c.Errorf(p, "%s: an empty name", key)
		case strings.ContainsAny(n, bad) || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' }):
			c.Errorf(p, "%s: %q has a character Elasticsearch names cannot have (one of %s or a space)", key, n, strings.TrimSpace(bad))
		case strings.HasPrefix(n, "_"):
			c.Errorf(p, "%s: %q starts with _, which would name an Elasticsearch API in the request path", key, n)
		}
	}
}

func redactURL(raw string) string {
	var r secret.Redactor
	r.Add(secret.DSNPasswords(raw)...)
	return r.String(raw)
}

// Build makes the target's source, and registers the forms its credentials take on the
// wire: the Authorization header's token, for basic auth (configured, or from a URL's user
// information) and for an API key in both its forms.
func (e *Target) Build(env *kind.Env) (*kind.Built, error) {
	env.Redactor.AddBasicAuth(e.Username, e.Password)
	env.Redactor.AddAPIKey(e.APIKey)
	for _, raw := range e.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				env.Redactor.AddBasicAuth(u.User.Username(), p)
			}
		}
	}
	src, err := New(Options{
		URLs:         e.URLs,
		Username:     e.Username,
		Password:     e.Password,
		APIKey:       e.APIKey,
		TLS:          e.TLSConfig,
		Lists:        e.Lists(),
		MaxConns:     e.MaxConnections,
		MaxBodyBytes: e.MaxBody,
		Timeout:      e.QueryTimeout,
	})
	if err != nil {
		return nil, err
	}
	return &kind.Built{Source: src, Timeout: e.QueryTimeout, Parallel: e.MaxConnections, Address: address(e.URLs)}, nil
}

// address lists the URLs without user information.
func address(urls []string) string {
	out := make([]string, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			out[i] = "(unparsable URL)"
			continue
		}
		u.User = nil
		out[i] = u.String()
	}
	return strings.Join(out, ", ")
}
