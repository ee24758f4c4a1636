package elasticsearch

import (
	"crypto/x509"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// testKinds is this package's kind, for configuration files that list only its targets.
var testKinds = kind.Kinds{Kind()}.Targets()

func TestElasticsearchTarget(t *testing.T) {
	dir := t.TempDir()
	caPEM := string(estest.OtherCA(t))
	caFile := testenv.WriteFile(t, dir, "ca.pem", caPEM)
	pw := testenv.WriteFile(t, dir, "es_password", "Es-File-Pass-1\n")
	t.Setenv("TEST_ES_API_KEY", "key-id:Es-Api-Key-2")
	c, err := config.Parse("es.yml", []byte(`targets:
  elasticsearch:
    - name: visibility
      urls: [https://10.0.0.9:9200, https://10.0.0.10:9200]
      username: exporter
      password_file: `+pw+`
      ca_file: `+caFile+`
      slm_policies: [nightly-snapshots]
      snapshot_repositories: [temporal-backups]
    - name: archive
      urls: [http://10.0.0.20:9200]
      api_key_env: TEST_ES_API_KEY
      indices: [temporal_visibility_v1_*, "shrink-*temporal_visibility_v1_*", -temporal_visibility_v1_old]
      query_timeout: 3s
      max_connections: 4
    - name: bare
      urls: [http://10.0.0.30:9200]
      indices: []
      insecure_skip_verify: true
    - name: urluser
      urls: [https://elastic@10.0.0.40:9200]
      password_file: `+pw+`
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	es := config.TargetsOf[*Target](c)
	v := es[0]
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM([]byte(caPEM))
	if v.Password != "Es-File-Pass-1" || v.TLSConfig == nil || !v.TLSConfig.RootCAs.Equal(ca) || v.QueryTimeout != DefaultTimeout ||
		v.MaxConnections != DefaultMaxConns || !slices.Equal(v.Indices, DefaultIndexPatterns) {
		t.Errorf("visibility: %+v", v)
	}
	if l := v.Lists(); !slices.Equal(l["slm_policies"], []string{"nightly-snapshots"}) || !slices.Equal(l["snapshot_repositories"], []string{"temporal-backups"}) {
		t.Errorf("lists %v", l)
	}
	a := es[1]
	if a.APIKey != "key-id:Es-Api-Key-2" || a.QueryTimeout != 3*time.Second || a.MaxConnections != 4 || len(a.Indices) != 3 {
		t.Errorf("archive: %+v", a)
	}
	// an explicit empty list collects no index; it is not the default
	if b := es[2]; b.Indices == nil || len(b.Indices) != 0 || !b.InsecureSkipVerify {
		t.Errorf("bare: %+v", b)
	}
	// the user named in the URL goes with password_file
	if u := es[3]; u.Username != "elastic" || u.Password != "Es-File-Pass-1" {
		t.Errorf("urluser: user %q", u.Username)
	}
	for _, s := range []string{"Es-File-Pass-1", "key-id:Es-Api-Key-2", "Es-Api-Key-2",
		base64.StdEncoding.EncodeToString([]byte("key-id:Es-Api-Key-2")),
		base64.StdEncoding.EncodeToString([]byte("exporter:Es-File-Pass-1"))} {
		if !slices.Contains(c.Secrets(), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}

func TestElasticsearchErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := testenv.WriteFile(t, dir, "not.pem", "hello")
	t.Setenv("TEST_ES_PW", "Es-Pass-3")
	t.Setenv("TEST_ES_KEY", "Es-Key-3")
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"auth", `targets:
  elasticsearch:
    - name: both
      urls: [http://es:9200]
      username: u
      password_env: TEST_ES_PW
      api_key_env: TEST_ES_KEY
    - name: nouser
      urls: [http://es:9200]
      password_env: TEST_ES_PW
    - name: nopass
      urls: [http://es:9200]
      username: u
`, []string{
			`bad.yml:3: elasticsearch target "both": use a password or an API key, not both`,
			`bad.yml:8: elasticsearch target "nouser": a password needs a username (username, or the user in the URL)`,
			`bad.yml:13: elasticsearch target "nopass": username "u" needs password_file or password_env`,
		}},
		{"tls", `targets:
  elasticsearch:
    - name: es
      urls: [https://es:9200]
      ca_file: ` + notPEM + `
      insecure_skip_verify: true
`, []string{
			`bad.yml:5: ca_file "` + notPEM + `" has no PEM certificate`,
			`bad.yml:6: elasticsearch target "es": insecure_skip_verify ignores ca_file: set one`,
		}},
		{"names", `targets:
  elasticsearch:
    - name: es
      urls: [http://es:9200]
      indices: ["", "a b", "_cat", "x/y", "ok-*"]
      slm_policies: ["p*"]
      snapshot_repositories: ["r,s"]
      query_timeout: -2s
      max_connections: 100
`, []string{
			`bad.yml:5: indices: an empty name`,
			`bad.yml:5: indices: "a b" has a character Elasticsearch names cannot have (one of "\/?<>|#,{} or a space)`,
			`bad.yml:5: indices: "_cat" starts with _, which would name an Elasticsearch API in the request path`,
			`bad.yml:5: indices: "x/y" has a character Elasticsearch names cannot have (one of "\/?<>|#,{} or a space)`,
			`bad.yml:6: slm_policies: "p*" has a character Elasticsearch names cannot have (one of "\/?<>|#,{}* or a space)`,
			`bad.yml:7: snapshot_repositories: "r,s" has a character Elasticsearch names cannot have (one of "\/?<>|#,{}* or a space)`,
			`bad.yml:8: query_timeout -2s must be positive`,
			`bad.yml:9: max_connections 100: want 1 to 20 (the exporter should stay cheap on the cluster)`,
		}},
		{"unknown key", `targets:
  elasticsearch:
    - name: es
      urls: [http://es:9200]
      index_patterns: [x]
`, []string{`bad.yml:5: unknown key "index_patterns" in targets.elasticsearch[0]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("bad.yml", []byte(tc.text), testKinds)
			if err == nil {
				t.Fatal("no error")
			}
			if got := err.Error(); got != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			for _, s := range []string{"Es-Pass-3", "Es-Key-3"} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}
