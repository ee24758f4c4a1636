package elasticsearch_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var (
	packOnce sync.Once
	pack     []*queries.Query
	packErr  error
)

func defaultQueries(t *testing.T) []*queries.Query {
	t.Helper()
	packOnce.Do(func() {
		var set *queries.Set
		set, packErr = queries.DefaultSet(kinds.All.Packs())
		if packErr == nil {
			pack = set.For(queries.SourceElasticsearch)
		}
	})
	if packErr != nil {
		t.Fatal(packErr)
	}
	return pack
}

// The seed's configuration: the visibility indices, one SLM policy, one repository.
var seedLists = map[string][]string{
	"indices":               {"temporal_visibility_v1_*"},
	"slm_policies":          {"nightly-snapshots"},
	"snapshot_repositories": {"temporal-backups"},
}

func target(t *testing.T, name string, srv *estest.Server, opts elasticsearch.Options) *collector.Target {
	t.Helper()
	opts.URLs = append([]string{srv.URL}, opts.URLs...)
	if opts.Lists == nil {
		opts.Lists = seedLists
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	src, err := elasticsearch.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return &collector.Target{Name: name, Kind: queries.SourceElasticsearch, UpMetric: "elasticsearch_up",
		Source: src, Queries: defaultQueries(t), Timeout: opts.Timeout, Parallel: 2}
}

type exporter struct {
	engine *collector.Engine
	logs   *testenv.SyncBuffer
}

func newExporter(targets ...*collector.Target) *exporter {
	logs := &testenv.SyncBuffer{}
	return &exporter{collector.NewEngine(targets, slog.New(slog.NewTextHandler(logs, nil))), logs}
}

// scrape is one GET /metrics: every target, with the target label.
func (e *exporter) scrape(t *testing.T) scraped {
	t.Helper()
	rec := httptest.NewRecorder()
	e.engine.MetricsHandler(collector.HandlerOpts{DefaultTimeout: 20 * time.Second}).
		ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return parse(t, rec.Body.String())
}

// scraped is an exposition: its text, and each sample by its series as printed.
type scraped struct {
	text    string
	samples map[string]float64
}

func parse(t *testing.T, text string) scraped {
	t.Helper()
	s := scraped{text: text, samples: map[string]float64{}}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		s.samples[line[:i]] = v
	}
	return s
}

// series returns the samples of a metric whose labels include every name="value" of want.
func (s scraped) series(metric string, want ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range s.samples {
		name, labels, _ := strings.Cut(k, "{")
		if name != metric {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(","+labels, ","+w)
		}
		if ok {
			out[k] = v
		}
	}
	return out
}

// value is the one sample of a metric with these labels; the test fails when there is not
// exactly one.
func (s scraped) value(t *testing.T, metric string, want ...string) float64 {
	t.Helper()
	got := s.series(metric, want...)
	if len(got) != 1 {
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("%s%v: %d series, want 1: %v", metric, want, len(got), keys)
		return -1
	}
	for _, v := range got {
		return v
	}
	return -1
}

func (s scraped) expect(t *testing.T, want float64, metric string, labels ...string) {
	t.Helper()
	if got := s.value(t, metric, labels...); got != want && !(got == -1 && want != -1) {
		t.Errorf("%s%v = %v, want %v", metric, labels, got, want)
	}
}

// promtool must find nothing wrong with what the exporter writes.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	testenv.CheckMetrics(t, text)
}

// noQueryErrors checks that every query that ran on the target succeeded.
func noQueryErrors(t *testing.T, s scraped, target string) {
	t.Helper()
	for k, v := range s.series("persistence_exporter_query_errors_total", `target="`+target+`"`) {
		if v != 0 {
			t.Errorf("%s = %v", k, v)
		}
	}
}

func TestReplay717Healthy(t *testing.T) {
	srv := estest.New(t, "7.17", false)
	ex := newExporter(target(t, "visibility", srv, elasticsearch.Options{}))
	s := ex.scrape(t)
	promtoolCheck(t, s.text)
	noQueryErrors(t, s, "visibility")
	tg := `target="visibility"`
	s.expect(t, 1, "elasticsearch_up", tg)
	// /_health_report is 8.7+: not even sent to 7.17
	s.expect(t, 0, "persistence_exporter_query_enabled", tg, `query="elasticsearch_health_report_status"`)
	if n := srv.Requests("health_report"); n != 0 {
		t.Errorf("7.17 got %d /_health_report requests", n)
	}
	s.expect(t, 1, "elasticsearch_version", tg, `version="7.17.18"`, `cluster="temporal-es-cluster"`)

	c := `cluster="temporal-es-cluster"`
	s.expect(t, 1, "elasticsearch_cluster_health_status", c, `color="green"`)
	s.expect(t, 0, "elasticsearch_cluster_health_status", c, `color="red"`)
	s.expect(t, 8, "elasticsearch_cluster_health_number_of_nodes", c)
	s.expect(t, 3, "elasticsearch_cluster_health_number_of_data_nodes", c)
	s.expect(t, 0, "elasticsearch_cluster_health_unassigned_shards", c)
	s.expect(t, 1, "elasticsearch_cluster_health_active_shards_ratio", c)
	if len(s.series("elasticsearch_unassigned_shards")) != 0 {
		t.Error("a green cluster has elasticsearch_unassigned_shards series")
	}

	// 3 master, 3 data, 2 coordinating-only nodes, with elasticsearch_exporter's labels
	if n := len(s.series("elasticsearch_jvm_memory_max_bytes", `area="heap"`)); n != 8 {
		t.Errorf("%d nodes with a heap", n)
	}
	// 14 visibility shard copies round-robin on 3 data nodes, and .security-7 on data-1 and -2
	s.expect(t, 6, "elasticsearch_node_shards_total", c, `node="es-data-1"`)
	s.expect(t, 6, "elasticsearch_node_shards_total", c, `node="es-data-2"`)
	data1 := []string{`name="es-data-1"`, `es_data_node="true"`, `es_master_node="false"`, `es_client_node="false"`, `es_ingest_node="true"`}
	s.expect(t, 4<<30, "elasticsearch_jvm_memory_max_bytes", append(data1, `area="heap"`)...)
	s.expect(t, 1717986918, "elasticsearch_breakers_limit_size_bytes", append(data1[:1:1], `breaker="fielddata"`)...)
	s.expect(t, 1288490188, "elasticsearch_breakers_limit_size_bytes", `name="es-data-1"`, `breaker="request"`)
	s.expect(t, 1, "elasticsearch_nodes_roles", `name="es-master-1"`, `role="master"`)
	s.expect(t, 12, "elasticsearch_os_cpu_percent", `name="es-client-1"`, `es_client_node="true"`, `es_data_node="false"`, `es_master_node="false"`)
	if n := len(s.series("elasticsearch_thread_pool_queue_count", `name="es-data-1"`)); n != 5 {
		t.Errorf("thread pools of es-data-1: %d, want search, write, get, force_merge, snapshot", n)
	}

	// watermarks as byte sizes, the transient high one winning over the persistent
	s.expect(t, 100<<30, "elasticsearch_clustersettings_allocation_watermark_low_bytes")
	s.expect(t, 40<<30, "elasticsearch_clustersettings_allocation_watermark_high_bytes")
	s.expect(t, 20<<30, "elasticsearch_clustersettings_allocation_watermark_flood_stage_bytes")
	if n := len(s.series("elasticsearch_clustersettings_allocation_watermark_high_ratio")); n != 0 {
		t.Error("a byte-size watermark has a ratio too")
	}
	s.expect(t, 1000, "elasticsearch_clustersettings_stats_max_shards_per_node")
	s.expect(t, 0.4, "elasticsearch_clustersettings_breaker_fielddata_limit_ratio")
	s.expect(t, 0.3, "elasticsearch_clustersettings_breaker_request_limit_ratio")
	s.expect(t, 0, "elasticsearch_clustersettings_stats_shard_allocation_enabled")

	// the configured indices only, each with its ILM state
	idx := `index="temporal_visibility_v1_prod-000010"`
	s.expect(t, 9_000_000+3*500_000, "elasticsearch_indices_docs_primary", idx, c)
	s.expect(t, 1, "elasticsearch_ilm_index_status", idx, `phase="hot"`, `action="rollover"`, `step="check-rollover-ready"`)
	s.expect(t, 1, "elasticsearch_ilm_status", `operation_mode="RUNNING"`)
	s.expect(t, 1000, "elasticsearch_indices_settings_total_fields", idx) // not set: the default
	s.expect(t, 2000, "elasticsearch_indices_settings_total_fields", `index="temporal_visibility_v1_prod-000009"`)
	s.expect(t, 19+700, "elasticsearch_indices_mappings_stats_fields", idx)
	if len(s.series("elasticsearch_ilm_index_step_error")) != 0 {
		t.Error("ILM errors on a healthy cluster")
	}
	s.expect(t, 3, "elasticsearch_index_shards", idx, `prirep="p"`, `state="STARTED"`)
	s.expect(t, 7, "elasticsearch_snapshot_stats_number_of_snapshots", `repository="temporal-backups"`)
	s.expect(t, 88, "elasticsearch_slm_stats_snapshots_taken_total", `policy="nightly-snapshots"`)
}

// The seed's incident on 8.x: everything an operator must see is in the metrics.
func TestReplay813Incident(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	ex := newExporter(target(t, "visibility", srv, elasticsearch.Options{}))
	s := ex.scrape(t)
	if testing.Verbose() {
		t.Log(s.text)
	}
	promtoolCheck(t, s.text)
	noQueryErrors(t, s, "visibility")
	c := `cluster="temporal-es-cluster"`
	s.expect(t, 1, "elasticsearch_up", `target="visibility"`)
	s.expect(t, 1, "persistence_exporter_query_enabled", `query="elasticsearch_health_report_status"`)

	// a red cluster
	s.expect(t, 1, "elasticsearch_cluster_health_status", c, `color="red"`)
	s.expect(t, 0, "elasticsearch_cluster_health_status", c, `color="green"`)
	s.expect(t, 4, "elasticsearch_cluster_health_unassigned_shards", c)
	s.expect(t, 1532, "elasticsearch_cluster_health_task_max_waiting_in_queue_millis", c)
	s.expect(t, 1.532, "elasticsearch_cluster_health_task_max_waiting_in_queue_seconds", c)
	s.expect(t, 1, "elasticsearch_health_report_status", c, `color="red"`)
	s.expect(t, 1, "elasticsearch_health_report_indicator_status", c, `indicator="shards_availability"`, `color="red"`)
	s.expect(t, 1, "elasticsearch_health_report_indicator_status", c, `indicator="disk"`, `color="yellow"`)
	s.expect(t, 1, "elasticsearch_index_health_status", `index="temporal_visibility_v1_prod-000010"`, `color="red"`)

	// unassigned shards and their reason: a primary among them
	w := `index="temporal_visibility_v1_prod-000010"`
	s.expect(t, 1, "elasticsearch_unassigned_shards", c, w, `prirep="p"`, `reason="NODE_LEFT"`)
	s.expect(t, 1, "elasticsearch_unassigned_shards", c, w, `prirep="r"`, `reason="NODE_LEFT"`)
	s.expect(t, 1, "elasticsearch_unassigned_shards", c, w, `prirep="r"`, `reason="ALLOCATION_FAILED"`)
	s.expect(t, 1, "elasticsearch_unassigned_shards", c, `index="temporal_visibility_v1_prod-000009"`, `reason="NODE_LEFT"`)
	s.expect(t, 1, "elasticsearch_index_shards", w, `prirep="p"`, `state="UNASSIGNED"`)
	s.expect(t, 4, "elasticsearch_cat_allocation_shards", c, `node="UNASSIGNED"`)

	// an ILM step in ERROR, with the failed step and the reason
	e := s.series("elasticsearch_ilm_index_step_error", `index="temporal_visibility_v1_prod-000009"`, `failed_step="shrink"`,
		`phase="warm"`, `action="shrink"`, `error_type="illegal_state_exception"`)
	if len(e) != 1 {
		t.Errorf("ILM error series: %v", e)
	}
	for k, v := range e {
		if v != 1 || !strings.Contains(k, `reason="index [temporal_visibility_v1_prod-000009] cannot be shrunk`) {
			t.Errorf("%s %v", k, v)
		}
	}
	s.expect(t, 47, "elasticsearch_ilm_index_failed_step_retries", `index="temporal_visibility_v1_prod-000009"`)
	s.expect(t, 1, "elasticsearch_ilm_index_status", `index="temporal_visibility_v1_prod-000009"`, `step="ERROR"`)
	// the ages are taken now, from the recorded dates: the step has been stuck 2 days longer
	// than the time since the recording
	stuck := s.value(t, "elasticsearch_ilm_index_step_age_seconds", `index="temporal_visibility_v1_prod-000009"`)
	phase := s.value(t, "elasticsearch_ilm_index_phase_age_seconds", `index="temporal_visibility_v1_prod-000009"`)
	if d := phase - stuck; d < 5*86400-1 || d > 5*86400+1 {
		t.Errorf("phase age %v - step age %v = %v, want 5 days", phase, stuck, d)
	}

	// a node past the high watermark (90 %)
	high := s.value(t, "elasticsearch_clustersettings_allocation_watermark_high_ratio")
	s.expect(t, 0.85, "elasticsearch_clustersettings_allocation_watermark_low_ratio")
	s.expect(t, 0.95, "elasticsearch_clustersettings_allocation_watermark_flood_stage_ratio")
	if high != 0.9 {
		t.Errorf("high watermark %v", high)
	}
	// 452 of 500 GiB: past the watermark by less than cat's whole disk.percent (90) shows
	if used := s.value(t, "elasticsearch_cat_allocation_disk_used_ratio", `node="es-data-2"`); used != 0.904 || used <= high {
		t.Errorf("es-data-2 uses %v of its disk, want 0.904, past the high watermark %v", used, high)
	}
	if used := s.value(t, "elasticsearch_cat_allocation_disk_used_ratio", `node="es-data-1"`); used >= high {
		t.Errorf("es-data-1 uses %v", used)
	}
	n2 := []string{`name="es-data-2"`, `es_data_node="true"`} // data_hot etc.: a data node
	avail := s.value(t, "elasticsearch_filesystem_data_available_bytes", n2...)
	size := s.value(t, "elasticsearch_filesystem_data_size_bytes", n2...)
	if 1-avail/size <= high {
		t.Errorf("es-data-2's data path: %v of %v available", avail, size)
	}
	s.expect(t, 1234, "elasticsearch_thread_pool_rejected_count", append(n2, `type="search"`)...)
	s.expect(t, 12, "elasticsearch_breakers_tripped", append(n2, `breaker="fielddata"`)...)

	// a mapping at 1,950 of its 2,000 fields
	s.expect(t, 1950, "elasticsearch_indices_mappings_stats_fields", w)
	s.expect(t, 2000, "elasticsearch_indices_settings_total_fields", w)

	// snapshots: the last success is older than the last failure
	last := s.value(t, "elasticsearch_slm_policy_last_success_timestamp_seconds", `policy="nightly-snapshots"`)
	failed := s.value(t, "elasticsearch_slm_policy_last_failure_timestamp_seconds", `policy="nightly-snapshots"`)
	if last != float64(1735689600-3*86400+3600) || failed <= last {
		t.Errorf("SLM last success %v, last failure %v", last, failed)
	}
	if age := s.value(t, "elasticsearch_slm_policy_last_success_age_seconds", `policy="nightly-snapshots"`); age < 3*86400 {
		t.Errorf("SLM age %v", age)
	}
	s.expect(t, float64(1735689600-3*86400+600), "elasticsearch_snapshot_last_success_timestamp_seconds", `repository="temporal-backups"`)

	// the dozen node queries read one /_nodes/stats answer
	if n := srv.Requests("nodes_stats"); n != 1 {
		t.Errorf("%d requests to /_nodes/stats in one scrape", n)
	}
	// a second scrape asks again
	ex.scrape(t)
	if n := srv.Requests("nodes_stats"); n != 2 {
		t.Errorf("%d requests to /_nodes/stats after two scrapes", n)
	}
}

// Without slm_policies, snapshot_repositories or indices, those queries are not sent.
func TestUnconfiguredListsSkip(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	ex := newExporter(target(t, "bare", srv, elasticsearch.Options{Lists: map[string][]string{}}))
	s := ex.scrape(t)
	noQueryErrors(t, s, "bare")
	for _, q := range []string{"elasticsearch_slm_policy", "elasticsearch_snapshot_stats", "elasticsearch_index_stats", "elasticsearch_ilm_index_status"} {
		s.expect(t, 0, "persistence_exporter_query_enabled", `query="`+q+`"`)
	}
	for _, r := range []string{"slm_policy", "cat_snapshots", "indices_stats", "ilm_explain", "mappings"} {
		if n := srv.Requests(r); n != 0 {
			t.Errorf("%s: %d requests", r, n)
		}
	}
	s.expect(t, 1, "elasticsearch_cluster_health_status", `color="red"`)
}

// A server that fails, hangs or cuts its answer short costs its target its up metric or that
// query its series, and nothing else: the other target is in the same scrape. A hang lasts
// until the client gives up, so the timeout only decides how long the test takes: it is
// generous, for the broken target's other queries on a busy machine, and the subtests wait
// in parallel.
func TestFailures(t *testing.T) {
	const timeout = 5 * time.Second
	for _, tc := range []struct {
		name  string
		route string
		fault estest.Fault
		// down: the probe fails (elasticsearch_up 0); else the query that fails
		down  bool
		query string
		err   string
	}{
		{"500 on GET /", "root", estest.Status500, true, "", "500 Internal Server Error: exception: replayed failure of root"},
		{"hang on GET /", "root", estest.Hang, true, "", "context deadline exceeded"},
		{"truncated GET /", "root", estest.Truncate, true, "", "the JSON answer is cut short"},
		{"not Elasticsearch", "root", estest.NotElasticsearch, true, "", "not Elasticsearch"},
		{"500 on health", "cluster_health", estest.Status500, false, "elasticsearch_cluster_health", "500 Internal Server Error"},
		{"hang on ILM explain", "ilm_explain", estest.Hang, false, "elasticsearch_ilm_index_status", "GET /temporal_visibility_v1_*/_ilm/explain: context deadline exceeded"},
		{"truncated node stats", "nodes_stats", estest.Truncate, false, "elasticsearch_node", "the JSON answer is cut short"},
		{"stall in the settings", "cluster_settings", estest.Stall, false, "elasticsearch_clustersettings", "reading the answer: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bad := estest.New(t, "8.13", false)
			good := estest.New(t, "7.17", false)
			bad.Fail(tc.route, tc.fault)
			ex := newExporter(target(t, "broken", bad, elasticsearch.Options{Timeout: timeout}),
				target(t, "healthy", good, elasticsearch.Options{Timeout: timeout}))
			s := ex.scrape(t)
			promtoolCheck(t, s.text)
			s.expect(t, 1, "elasticsearch_up", `target="healthy"`)
			s.expect(t, 1, "elasticsearch_cluster_health_status", `target="healthy"`, `color="green"`)
			noQueryErrors(t, s, "healthy")
			if n := bad.Requests(tc.route); n != 1 {
				t.Errorf("the faulty route got %d requests, want 1", n)
			}
			if tc.down {
				s.expect(t, 0, "elasticsearch_up", `target="broken"`)
				if n := len(s.series("elasticsearch_cluster_health_status", `target="broken"`)); n != 0 {
					t.Errorf("a down target has %d health series", n)
				}
			} else {
				s.expect(t, 1, "elasticsearch_up", `target="broken"`)
				s.expect(t, 1, "persistence_exporter_query_errors_total", `target="broken"`, `query="`+tc.query+`"`)
				// the other queries of the broken target still report
				s.expect(t, 1, "elasticsearch_ilm_status", `target="broken"`, `operation_mode="RUNNING"`)
			}
			if logs := ex.logs.String(); !strings.Contains(logs, tc.err) {
				t.Errorf("the log lacks %q:\n%s", tc.err, logs)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	const password = "Es-Very-Secret-Pw"
	key := base64.StdEncoding.EncodeToString([]byte("key-id:Es-Api-Key-Secret"))

	basic := estest.New(t, "8.13", false, estest.WithBasicAuth("exporter", password))
	apiKey := estest.New(t, "8.13", false, estest.WithAPIKey(key))
	wrong := estest.New(t, "8.13", false, estest.WithBasicAuth("exporter", "another"))
	ex := newExporter(
		target(t, "basic", basic, elasticsearch.Options{Username: "exporter", Password: password}),
		target(t, "apikey", apiKey, elasticsearch.Options{APIKey: key}),
		target(t, "apikey-plain", apiKey, elasticsearch.Options{APIKey: "key-id:Es-Api-Key-Secret"}),
		target(t, "wrong", wrong, elasticsearch.Options{Username: "exporter", Password: password}),
	)
	s := ex.scrape(t)
	for tg, up := range map[string]float64{"basic": 1, "apikey": 1, "apikey-plain": 1, "wrong": 0} {
		s.expect(t, up, "elasticsearch_up", `target="`+tg+`"`)
	}
	if logs := ex.logs.String(); !strings.Contains(logs, "401 Unauthorized: security_exception") {
		t.Errorf("the log lacks the 401:\n%s", logs)
	}
	for _, secret := range []string{password, "Es-Api-Key-Secret", key} {
		if strings.Contains(s.text, secret) || strings.Contains(ex.logs.String(), secret) {
			t.Errorf("a secret shows in the metrics or the log")
		}
	}
}

func TestTLS(t *testing.T) {
	srv := estest.New(t, "8.13", true)
	ex := newExporter(
		target(t, "with-ca", srv, elasticsearch.Options{TLS: trusting(t, srv.CACert())}),
		target(t, "without-ca", srv, elasticsearch.Options{}),
		target(t, "wrong-ca", srv, elasticsearch.Options{TLS: trusting(t, estest.OtherCA(t))}),
		target(t, "insecure", srv, elasticsearch.Options{TLS: &tls.Config{InsecureSkipVerify: true}}),
	)
	s := ex.scrape(t)
	for tg, up := range map[string]float64{"with-ca": 1, "without-ca": 0, "wrong-ca": 0, "insecure": 1} {
		s.expect(t, up, "elasticsearch_up", `target="`+tg+`"`)
	}
	if logs := ex.logs.String(); !strings.Contains(logs, "certificate") {
		t.Errorf("the log does not say why TLS failed:\n%s", logs)
	}
}

// trusting is a TLS configuration that trusts the authorities of caPEM.
func trusting(t *testing.T, caPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the PEM")
	}
	return &tls.Config{RootCAs: pool}
}

// With two URLs, a dead node is skipped.
func TestSecondURL(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	dead := httptest.NewServer(nil)
	deadURL := dead.URL
	dead.Close()
	src, err := elasticsearch.New(elasticsearch.Options{URLs: []string{deadURL, srv.URL}, Lists: seedLists})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ex := newExporter(&collector.Target{Name: "two", Kind: queries.SourceElasticsearch, UpMetric: "elasticsearch_up",
		Source: src, Queries: defaultQueries(t), Timeout: 5 * time.Second, Parallel: 2})
	for range 3 {
		s := ex.scrape(t)
		s.expect(t, 1, "elasticsearch_up")
		noQueryErrors(t, s, "two")
	}
}

// A user query reads any endpoint: here pending tasks, which the default pack does not.
func TestUserQuery(t *testing.T) {
	p, err := queries.Parse("user.yaml", []byte(`source: elasticsearch
queries:
  - name: es_custom_nodes
    help: Heap used per node, by name.
    http:
      path: /_nodes/stats/jvm?filter_path=nodes.*.name,nodes.*.jvm.mem.heap_used_percent
      rows: nodes.*
      fields: {node: name, heap: jvm.mem.heap_used_percent}
    columns:
      - {name: node, usage: label}
      - {name: heap, usage: gauge, scale: 0.01, metric: es_custom_heap_used_ratio}
`), kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	srv := estest.New(t, "8.13", false)
	tg := target(t, "custom", srv, elasticsearch.Options{})
	tg.Queries = p.Queries
	s := newExporter(tg).scrape(t)
	s.expect(t, 0.78, "es_custom_heap_used_ratio", `node="es-data-2"`)
	s.expect(t, 0.45, "es_custom_heap_used_ratio", `node="es-client-1"`)
}

// query returns a query of the default pack.
func query(t *testing.T, name string) *queries.Query {
	t.Helper()
	for _, q := range defaultQueries(t) {
		if q.Name == name {
			return q
		}
	}
	t.Fatalf("no query %q in the default pack", name)
	return nil
}

// The answers of a gather are released when it ends, not kept until the next probe: a query
// run after the scrape asks the cluster again.
func TestAnswersReleasedAfterGather(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	tg := target(t, "visibility", srv, elasticsearch.Options{})
	newExporter(tg).scrape(t)
	if n := srv.Requests("nodes_stats"); n != 1 {
		t.Fatalf("%d requests to /_nodes/stats in one scrape", n)
	}
	q := query(t, "elasticsearch_node")
	rows, err := tg.Source.Run(t.Context(), q, q.Body)
	if err != nil || rows.Len() == 0 {
		t.Fatalf("%v, %v", rows, err)
	}
	if n := srv.Requests("nodes_stats"); n != 2 {
		t.Errorf("the answer of the ended gather served a query: %d requests to /_nodes/stats, want 2", n)
	}
}

// An answer larger than the cap fails its query, saying so; one cut short below the cap is
// reported as cut short.
func TestMaxBodyBytes(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	srv.Fail("cluster_health", estest.Truncate)
	// GET / (about 500 bytes) fits; /_nodes/stats (tens of KiB) does not
	ex := newExporter(target(t, "small", srv, elasticsearch.Options{MaxBodyBytes: 4096}))
	s := ex.scrape(t)
	s.expect(t, 1, "elasticsearch_up")
	s.expect(t, 1, "persistence_exporter_query_errors_total", `query="elasticsearch_node"`)
	s.expect(t, 1, "persistence_exporter_query_errors_total", `query="elasticsearch_cluster_health"`)
	s.expect(t, 0, "persistence_exporter_query_errors_total", `query="elasticsearch_ilm_status"`)
	logs := ex.logs.String()
	for _, want := range []string{
		"GET /_nodes/stats/", "the answer is larger than 4096 bytes",
		"GET /_cluster/health: the JSON answer is cut short after ",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// Connections are kept alive across requests and scrapes: the bodies are read to their end
// (the JSON decoder stops before the trailing newline) before they are closed.
func TestConnectionsReused(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	ex := newExporter(target(t, "visibility", srv, elasticsearch.Options{MaxConns: 2}))
	for range 2 {
		s := ex.scrape(t)
		noQueryErrors(t, s, "visibility")
	}
	if n := srv.Requests("nodes_stats"); n != 2 {
		t.Fatalf("%d requests to /_nodes/stats in two scrapes", n)
	}
	if n := srv.Conns(); n > 2 {
		t.Errorf("%d connections for two scrapes at 2 requests at a time: the connections are not reused", n)
	}
}
