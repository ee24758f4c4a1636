package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// echoErrors answers status with an Elasticsearch error whose reason echoes the request's
// Authorization header, the secret plain and URL-escaped both ways, then every request
// header: what a misbehaving server or proxy may send back. Requests that answered pass to next when it is set.
func echoErrors(t *testing.T, status int, secret string, answered func(r *http.Request) bool, next http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answered != nil && answered(r) {
			next.ServeHTTP(w, r)
			return
		}
		// the credentials first, so that they are within what an error message keeps
		var b strings.Builder
		fmt.Fprintf(&b, "Authorization: %s; password %s, %s, %s; ", r.Header.Get("Authorization"),
			secret, url.QueryEscape(secret), url.PathEscape(secret))
		for k, vs := range r.Header {
			for _, v := range vs {
				fmt.Fprintf(&b, "%s: %s; ", k, v)
			}
		}
		body, _ := json.Marshal(map[string]any{
			"error":  map[string]any{"type": "security_exception", "reason": "rejected: " + b.String()},
			"status": status,
		})
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Elasticsearch error answers that echo the request's headers and the password reach the
// log as the errors of a down target and of failed queries, and none of the credentials'
// forms shows: the password plain and URL-escaped, base64(user:password) of the basic auth
// header (configured, or from a URL's user information), the API key in both forms.
func TestEndToEndElasticsearchErrorBodiesRedacted(t *testing.T) {
	const (
		password    = `S3cr3t-P@ss:w/rd?#%`
		urlPassword = `S3cr3t-Url@ss:w/rd?#%`
		apiKeyID    = "echo-key-id"
		apiKeySec   = `Es-Echo-Api-Key-Secret`
	)
	apiKey := apiKeyID + ":" + apiKeySec
	encodedKey := base64.StdEncoding.EncodeToString([]byte(apiKey))
	basic := echoErrors(t, http.StatusUnauthorized, password, nil, nil)
	inURL := echoErrors(t, http.StatusUnauthorized, urlPassword, nil, nil)
	// GET / answers; every query is refused, echoing the key
	replay := estest.New(t, "8.13", false, estest.WithAPIKey(encodedKey))
	keyed := echoErrors(t, http.StatusForbidden, apiKeySec, func(r *http.Request) bool { return r.URL.Path == "/" }, replay)

	dir := t.TempDir()
	pw := testenv.WriteFile(t, dir, "es_password", password+"\n")
	t.Setenv("E2E_ECHO_API_KEY", apiKey)
	u, err := url.Parse(inURL.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("exporter", urlPassword)
	cfg := testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf(`targets:
  elasticsearch:
    - name: es-basic
      urls: [%s]
      username: exporter
      password_file: %s
    - name: es-in-url
      urls: ['%s']
    - name: es-api-key
      urls: [%s]
      api_key_env: E2E_ECHO_API_KEY
`, basic.URL, pw, u.String(), keyed.URL))
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	probe := ex.get(t, "/probe?target=es-in-url", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	for _, want := range []string{`elasticsearch_up{target="es-basic"} 0`, `elasticsearch_up{target="es-in-url"} 0`, `elasticsearch_up{target="es-api-key"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	logs := ex.logs.String()
	// the echoes are in the log: the test would show a leak
	for _, want := range []string{"401 Unauthorized: security_exception: rejected: ", "403 Forbidden: security_exception: rejected: "} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	var secrets []string
	for _, s := range []string{password, urlPassword, apiKeySec} {
		secrets = append(secrets, s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)))
	}
	secrets = append(secrets,
		base64.StdEncoding.EncodeToString([]byte("exporter:"+password)),
		base64.StdEncoding.EncodeToString([]byte("exporter:"+urlPassword)),
		apiKey, encodedKey)
	for _, s := range secrets {
		for where, text := range map[string]string{"/metrics": metrics, "/probe": probe, "the log": logs} {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret form %q", where, s)
			}
		}
	}
}

// max_body_bytes caps the answers of its target: a bigger answer fails its queries with an
// error that names the setting, and the target's other queries go on.
func TestEndToEndElasticsearchMaxBodyBytes(t *testing.T) {
	replay := estest.New(t, "8.13", false)
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_cat/shards" {
			replay.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Length", strconv.Itoa(4<<20))
		_, _ = w.Write([]byte("[" + strings.Repeat(`{"index":"x","shard":"0","prirep":"p","state":"STARTED"},`, (4<<20)/64)))
	}))
	t.Cleanup(big.Close)
	cfg := testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  elasticsearch:
    - name: capped
      urls: [%s]
      max_body_bytes: 1MiB
`, big.URL))
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "10")
	for _, want := range []string{
		`elasticsearch_up{target="capped"} 1`,
		`persistence_exporter_query_errors_total{query="elasticsearch_unassigned_shards",target="capped"} 1`,
		`persistence_exporter_query_errors_total{query="elasticsearch_cluster_health",target="capped"} 0`,
		`elasticsearch_cluster_health_status{cluster="temporal-es-cluster",color="red",target="capped"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if logs := ex.logs.String(); !strings.Contains(logs, "max_body_bytes") || !strings.Contains(logs, "1MiB") {
		t.Errorf("the log does not say which setting capped the answer:\n%s", logs)
	}
}

// The probe does not queue behind requests that hang: with every index endpoint hanging
// (longer than the scrapes, shorter than the query timeout), each of several scrapes in a
// row finds the target up and has the series of every query whose endpoint answers. The
// requests hang past the scrapes (the query timeout is 10s) and are released at cleanup.
func TestEndToEndElasticsearchHangingIndexEndpoints(t *testing.T) {
	srv := estest.New(t, "8.13", false) // its cleanup releases the hanging handlers
	hanging := []string{"indices_stats", "cat_shards_indices", "cat_indices", "mappings", "index_settings", "ilm_explain"}
	for _, r := range hanging {
		srv.Fail(r, estest.Hang)
	}
	cfg := testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  elasticsearch:
    - name: stuck
      urls: [%s]
      slm_policies: [nightly-snapshots]
      snapshot_repositories: [temporal-backups]
`, srv.URL))
	ex := startExporter(t, cfg)
	for i := range 4 {
		start := time.Now()
		metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "2")
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("scrape %d took %s, past its 2s timeout", i, d)
		}
		for _, want := range []string{
			`elasticsearch_up{target="stuck"} 1`,
			`elasticsearch_cluster_health_status{cluster="temporal-es-cluster",color="red",target="stuck"} 1`,
			`elasticsearch_clustersettings_allocation_watermark_high_ratio{target="stuck"} 0.9`,
			`elasticsearch_health_report_status{cluster="temporal-es-cluster",color="red",target="stuck"} 1`,
			`elasticsearch_jvm_memory_max_bytes{`,
			`elasticsearch_cat_allocation_disk_used_ratio{`,
			`elasticsearch_unassigned_shards{`,
			`elasticsearch_ilm_status{`,
			`elasticsearch_slm_stats_snapshots_failed_total{policy="nightly-snapshots",target="stuck"} 2`,
			`elasticsearch_snapshot_stats_number_of_snapshots{`,
		} {
			if !strings.Contains(metrics, want) {
				t.Errorf("scrape %d lacks %q", i, want)
			}
		}
		for _, line := range strings.Split(metrics, "\n") {
			if strings.HasPrefix(line, "persistence_exporter_query_errors_total{") && !strings.HasSuffix(line, " 0") &&
				!strings.Contains(line, `query="elasticsearch_index`) && !strings.Contains(line, `query="elasticsearch_indices_`) &&
				!strings.Contains(line, `query="elasticsearch_ilm_index`) {
				t.Errorf("scrape %d: a query on an endpoint that answers failed: %s", i, line)
			}
		}
	}
	sent := 0
	for _, r := range hanging {
		sent += srv.Requests(r)
	}
	if sent == 0 {
		t.Error("no request to an index endpoint: the test hangs nothing")
	}
}
