package advisor_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// parseSecrets reads a configuration with the advisor's section and returns the section's
// Prometheus and the secrets the configuration redacts.
func parseSecrets(file, text string) (promhistory.Config, []string, error) {
	adv := advisor.DefaultConfig()
	c, err := config.Parse(file, []byte(text), configKinds, config.Section{Key: "advisor", Value: &adv, Check: adv.Check, Secrets: adv.Secrets})
	if err != nil {
		return adv.Prometheus, nil, err
	}
	return adv.Prometheus, c.Secrets(), nil
}

// advisor.prometheus takes Prometheus' own client settings, strictly, and its credentials
// are secrets.
func TestAdvisorPrometheus(t *testing.T) {
	p, secrets, err := parseSecrets("good.yml", `targets:
  redis:
    - {name: cache, addr: "127.0.0.1:6379"}
advisor:
  prometheus:
    url: https://prometheus.example:9090
    basic_auth: {username: advisor, password: Prom-Secret-1}
    tls_config: {insecure_skip_verify: true, server_name: prometheus.example}
`)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled() || p.URL != "https://prometheus.example:9090" || p.HTTP.BasicAuth == nil || p.HTTP.BasicAuth.Username != "advisor" ||
		!p.HTTP.TLSConfig.InsecureSkipVerify || p.HTTP.TLSConfig.ServerName != "prometheus.example" || !p.HTTP.FollowRedirects {
		t.Errorf("prometheus %+v", p)
	}
	if !slices.Contains(secrets, "Prom-Secret-1") {
		t.Errorf("the basic auth password is not among the secrets to redact")
	}

	// absent: no Prometheus, the in-memory history
	p, _, err = parseSecrets("good.yml", "targets:\n  redis:\n    - {name: cache, addr: \"127.0.0.1:6379\"}\n")
	if err != nil || p.Enabled() {
		t.Errorf("without advisor.prometheus: %v, %+v", err, p)
	}

	for _, tc := range []struct{ body, want string }{
		{"    url: prometheus:9090\n", `bad.yml:5: prometheus: url "prometheus:9090": want an http or https URL such as http://prometheus:9090`},
		{"    url: http://p:9090\n    bearer_token: a\n    basic_auth: {username: u, password: p}\n", `bad.yml:5: prometheus: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured`},
		{"    url: http://p:9090\n    bearer_tokn: a\n", `bad.yml:7: unknown key "bearer_tokn" in advisor.prometheus (did you mean "bearer_token"?)`},
	} {
		_, err := parse("bad.yml", "targets:\n  redis:\n    - {name: cache, addr: \"127.0.0.1:6379\"}\nadvisor:\n  prometheus:\n"+tc.body)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// The README's advisor.prometheus example loads as it is written.
func TestREADMEPrometheusExample(t *testing.T) {
	block := testenv.YAMLBlock(t, "../README.md", "**The advisor's history from Prometheus.**")
	adv, err := parse("README.md", "targets:\n  redis:\n    - {name: cache, addr: \"127.0.0.1:6379\"}\n"+block)
	if err != nil {
		t.Fatal(err)
	}
	th := adv.Thresholds
	if !adv.Prometheus.Enabled() || adv.Prometheus.Timeout != 10*time.Second || adv.Prometheus.HTTP.BasicAuth == nil ||
		th.PGDiskSize != 500<<30 || th.ForecastWindow != 24*time.Hour || th.ForecastHorizon != 168*time.Hour {
		t.Errorf("README example: prometheus %+v, thresholds %+v", adv.Prometheus, th)
	}
}
