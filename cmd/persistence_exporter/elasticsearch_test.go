package main

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// Secrets of the Elasticsearch targets: none may show in anything the exporter writes.
const (
	esPassword    = "Es-E2E-Secret-Pass"
	esURLPassword = "Es-E2E-Url-Secret"
	esAPIKey      = "e2e-key-id:Es-E2E-Api-Key"
)

// The real PostgreSQL primary and four Elasticsearch clusters replayed from fixtures: the
// seed's 8.x incident (basic auth, over TLS with a CA file), a healthy 7.17 (API key), one
// whose GET / fails and one whose node stats come cut short. One scrape has them all.
func TestEndToEndElasticsearch(t *testing.T) {
	pg := env.Postgres(t)
	incident := estest.New(t, "8.13", true, estest.WithBasicAuth("exporter", esPassword))
	healthy := estest.New(t, "7.17", false, estest.WithAPIKey(base64.StdEncoding.EncodeToString([]byte(esAPIKey))))
	down := estest.New(t, "8.13", false)
	down.Fail("root", estest.Status500)
	flaky := estest.New(t, "8.13", false, estest.WithBasicAuth("exporter", esURLPassword))
	flaky.Fail("nodes_stats", estest.Truncate)

	dir := t.TempDir()
	ca := testenv.WriteFile(t, dir, "ca.pem", string(incident.CACert()))
	pw := testenv.WriteFile(t, dir, "es_password", esPassword+"\n")
	t.Setenv("E2E_ES_API_KEY", esAPIKey)
	urlWithPassword := strings.Replace(flaky.URL, "http://", "http://exporter:"+esURLPassword+"@", 1)
	cfg := testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
  elasticsearch:
    - name: visibility
      urls: [%s]
      username: exporter
      password_file: %s
      ca_file: %s
      slm_policies: [nightly-snapshots]
      snapshot_repositories: [temporal-backups]
    - name: visibility717
      urls: [%s]
      api_key_env: E2E_ES_API_KEY
    - name: es-down
      urls: [%s]
      query_timeout: 2s
    - name: es-flaky
      urls: [%s]
`, testPassword, pg.Primary.Port, incident.URL, pw, ca, healthy.URL, down.URL, urlWithPassword))

	if code, out, errOut := runCLI("check-config", "--config.file="+cfg); code != 0 || !strings.Contains(out, "5 targets (postgres 1, elasticsearch 4)") {
		t.Errorf("check-config: exit %d, %q %q", code, out, errOut)
	}
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	for _, want := range []string{
		`pg_up{target="primary"} 1`,
		`pg_stat_database_xact_commit{datid="`,
		`elasticsearch_up{target="visibility"} 1`,
		`elasticsearch_up{target="visibility717"} 1`,
		`elasticsearch_up{target="es-down"} 0`,
		`elasticsearch_up{target="es-flaky"} 1`,
		// the incident, on the 8.x target
		`elasticsearch_cluster_health_status{cluster="temporal-es-cluster",color="red",target="visibility"} 1`,
		`elasticsearch_unassigned_shards{cluster="temporal-es-cluster",index="temporal_visibility_v1_prod-000010",prirep="p",reason="NODE_LEFT",target="visibility"} 1`,
		`elasticsearch_ilm_index_step_error{action="shrink",error_type="illegal_state_exception",failed_step="shrink",index="temporal_visibility_v1_prod-000009",`,
		`elasticsearch_cat_allocation_disk_used_ratio{cluster="temporal-es-cluster",host="10.1.0.15",node="es-data-2",target="visibility"} 0.904`,
		`elasticsearch_clustersettings_allocation_watermark_high_ratio{target="visibility"} 0.9`,
		`elasticsearch_indices_mappings_stats_fields{index="temporal_visibility_v1_prod-000010",target="visibility"} 1950`,
		`elasticsearch_indices_settings_total_fields{index="temporal_visibility_v1_prod-000010",target="visibility"} 2000`,
		`elasticsearch_health_report_indicator_status{cluster="temporal-es-cluster",color="yellow",indicator="disk",target="visibility"} 1`,
		`elasticsearch_slm_stats_snapshots_failed_total{policy="nightly-snapshots",target="visibility"} 2`,
		// the healthy 7.17 target, which has no /_health_report
		`elasticsearch_cluster_health_status{cluster="temporal-es-cluster",color="green",target="visibility717"} 1`,
		`persistence_exporter_query_enabled{query="elasticsearch_health_report_status",target="visibility717"} 0`,
		`elasticsearch_clustersettings_allocation_watermark_low_bytes{target="visibility717"} 1.073741824e+11`,
		// a cut-short /_nodes/stats costs its queries, not the others
		`persistence_exporter_query_errors_total{query="elasticsearch_node",target="es-flaky"} 1`,
		`persistence_exporter_query_errors_total{query="elasticsearch_breakers",target="es-flaky"} 1`,
		`elasticsearch_cluster_health_status{cluster="temporal-es-cluster",color="red",target="es-flaky"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// a down target has its up metric and its probe duration, nothing else
	for _, line := range strings.Split(metrics, "\n") {
		if strings.Contains(line, `target="es-down"`) && !strings.HasPrefix(line, "elasticsearch_up{") &&
			!strings.HasPrefix(line, "persistence_exporter_probe_duration_seconds{") {
			t.Errorf("a down target has %q", line)
		}
	}
	testenv.CheckMetrics(t, metrics)

	probe := ex.probe(t, "visibility717", "elasticsearch_up")
	landing := ex.get(t, "/")
	if !strings.Contains(landing, "visibility717") || !strings.Contains(landing, strings.TrimPrefix(flaky.URL, "http://")) {
		t.Errorf("the landing page lacks the Elasticsearch targets")
	}
	logs := ex.logs.String()
	if !strings.Contains(logs, "es-down") || !strings.Contains(logs, "the JSON answer is cut short") {
		t.Errorf("the log lacks the down target and the cut answer:\n%s", logs)
	}
	for _, secret := range []string{esPassword, esURLPassword, "Es-E2E-Api-Key", base64.StdEncoding.EncodeToString([]byte(esAPIKey)), testPassword} {
		for where, text := range map[string]string{"/metrics": metrics, "the landing page": landing, "the log": logs, "/probe": probe} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows the secret %q", where, secret)
			}
		}
	}
}
