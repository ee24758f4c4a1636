package config

import (
	"slices"
	"strings"
	"testing"
)

// advisor.prometheus takes Prometheus' own client settings, strictly, and its credentials
// are secrets.
func TestAdvisorPrometheus(t *testing.T) {
	c, err := Parse("good.yml", []byte(`targets:
  redis:
    - {name: cache, addr: "127.0.0.1:6379"}
advisor:
  prometheus:
    url: https://prometheus.example:9090
    basic_auth: {username: advisor, password: Prom-Secret-1}
    tls_config: {insecure_skip_verify: true, server_name: prometheus.example}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Advisor.Prometheus
	if !p.Enabled() || p.URL != "https://prometheus.example:9090" || p.HTTP.BasicAuth == nil || p.HTTP.BasicAuth.Username != "advisor" ||
		!p.HTTP.TLSConfig.InsecureSkipVerify || p.HTTP.TLSConfig.ServerName != "prometheus.example" || !p.HTTP.FollowRedirects {
		t.Errorf("prometheus %+v", p)
	}
	if !slices.Contains(c.Secrets(), "Prom-Secret-1") {
		t.Errorf("the basic auth password is not among the secrets to redact")
	}

	// absent: no Prometheus, the in-memory history
	c, err = Parse("good.yml", []byte("targets:\n  redis:\n    - {name: cache, addr: \"127.0.0.1:6379\"}\n"))
	if err != nil || c.Advisor.Prometheus.Enabled() {
		t.Errorf("without advisor.prometheus: %v, %+v", err, c.Advisor.Prometheus)
	}

	for _, tc := range []struct{ body, want string }{
		{"    url: prometheus:9090\n", `bad.yml:5: prometheus: url "prometheus:9090": want an http or https URL such as http://prometheus:9090`},
		{"    url: http://p:9090\n    bearer_token: a\n    basic_auth: {username: u, password: p}\n", `bad.yml:5: prometheus: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured`},
		{"    url: http://p:9090\n    bearer_tokn: a\n", `bad.yml:7: unknown key "bearer_tokn" in advisor.prometheus (did you mean "bearer_token"?)`},
	} {
		_, err := Parse("bad.yml", []byte("targets:\n  redis:\n    - {name: cache, addr: \"127.0.0.1:6379\"}\nadvisor:\n  prometheus:\n"+tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
