package advisor_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/collector/kinds"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// esReport runs the advisor once over a replay of Elasticsearch version with the faults
// its fixtures hold (a red cluster with an unassigned primary, an index whose ILM step
// failed, a node past the high watermark, 1,950 of 2,000 mapped fields).
func esReport(t *testing.T, version string, at time.Time, edit func(*estest.Server)) *advisor.Report {
	t.Helper()
	srv := estest.New(t, version, false)
	if edit != nil {
		edit(srv)
	}
	src, err := elasticsearch.New(elasticsearch.Options{URLs: []string{srv.URL}, MaxConns: 2, Now: func() time.Time { return at },
		Lists: map[string][]string{"indices": {"temporal_visibility_v1_*"}, "slm_policies": {"nightly-snapshots"}, "snapshot_repositories": {"backups"}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := queries.DefaultSet(kinds.All.Packs())
	if err != nil {
		t.Fatal(err)
	}
	target := &collector.Target{Name: "visibility", Kind: queries.SourceElasticsearch, UpMetric: "elasticsearch_up", Source: src,
		Queries: set.For(queries.SourceElasticsearch), Timeout: 5 * time.Second, Parallel: 2}
	e := collector.NewEngine([]*collector.Target{target}, slog.New(slog.DiscardHandler))
	t.Cleanup(e.Close)
	r := &advisor.Runner{Engine: e, Targets: []*collector.Target{target}, Checks: advisor.DefaultChecks(),
		Config: advisor.DefaultConfig(), History: advisor.NewHistory(), Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.Run(ctx)
}

// fixturesNow is two days after the recorded write index was created: the ages the
// fixtures give are those of a live cluster.
var fixturesNow = time.Date(2024, 12, 27, 0, 0, 0, 0, time.UTC)

type esFinding struct {
	check, object string
	severity      advisor.Severity
	fix           string // in the fix text
}

// TestElasticsearchChecksOnReplay: the 7.17 recording is a healthy cluster and gives
// nothing at warning or above; the 8.13 one holds the faults, and each is found with its
// object and fix; faults planted in the 7.17 answers (a read-only block, snapshots and a
// write index grown old) are found too.
func TestElasticsearchChecksOnReplay(t *testing.T) {
	check := func(t *testing.T, rep *advisor.Report, want []esFinding) {
		t.Helper()
		found := map[int]bool{}
		for _, f := range rep.Findings {
			if f.Severity < advisor.Warning {
				continue
			}
			ok := false
			for i, w := range want {
				if f.Check == w.check && f.Object == w.object && f.Severity == w.severity && strings.Contains(f.Fix.Text, w.fix) {
					ok, found[i] = true, true
				}
			}
			if !ok {
				t.Errorf("unexpected %s %s %s: %s", f.Severity, f.Check, f.Object, f.Summary)
			}
		}
		for i, w := range want {
			if !found[i] {
				t.Errorf("missing %s %s %s (fix with %q)", w.severity, w.check, w.object, w.fix)
			}
		}
	}
	t.Run("7.17 healthy", func(t *testing.T) { check(t, esReport(t, "7.17", fixturesNow, nil), nil) })
	t.Run("8.13 faults", func(t *testing.T) {
		check(t, esReport(t, "8.13", fixturesNow, nil), []esFinding{
			{"es_disk_watermark", "node es-data-2", advisor.Critical, "free disk on es-data-2"},
			{"es_unassigned_shards", "temporal_visibility_v1_prod-000010", advisor.Critical, `"primary": true`},
			{"es_unassigned_shards", "temporal_visibility_v1_prod-000010", advisor.Warning, `"primary": false`},
			{"es_unassigned_shards", "temporal_visibility_v1_prod-000009", advisor.Warning, `"primary": false`},
			{"es_ilm_error", "temporal_visibility_v1_prod-000009", advisor.Warning, "POST /temporal_visibility_v1_prod-000009/_ilm/retry"},
			{"es_mapping_fields", "temporal_visibility_v1_prod-000010", advisor.Warning, "index.mapping.total_fields.limit"},
			{"es_heap", "node es-data-2 breaker fielddata", advisor.Warning, "fielddata"},
		})
	})
	t.Run("7.17 planted", func(t *testing.T) {
		settings := testenv.ReadFile(t, filepath.Join(estest.Dir(t, "7.17"), "index_settings.json"))
		blocked := strings.Replace(string(settings), `"number_of_replicas": "0",`,
			`"blocks": {"read_only_allow_delete": "true"}, "number_of_replicas": "0",`, 1)
		later := fixturesNow.Add(10 * 24 * time.Hour) // no snapshot since, no rollover since
		check(t, esReport(t, "7.17", later, func(s *estest.Server) { s.Answer("index_settings", []byte(blocked)) }), []esFinding{
			{"es_read_only", "temporal_visibility_v1_prod-000007", advisor.Critical, `"index.blocks.read_only_allow_delete": null`},
			{"es_snapshot_age", "SLM policy nightly-snapshots", advisor.Warning, "POST /_slm/policy/nightly-snapshots/_execute"},
			{"es_snapshot_age", "repository temporal-backups", advisor.Warning, "POST /_snapshot/temporal-backups/_verify"},
			{"es_rollover_overdue", "temporal_visibility_v1_prod-000010", advisor.Warning, "_rollover"},
		})
	})
}

// TestElasticsearchChecksOnFacts: the checks the recordings hold no fault for.
func TestElasticsearchChecksOnFacts(t *testing.T) {
	day := 86400.0
	f := snapshot(now, &facts.Target{Name: "es", Kind: queries.SourceElasticsearch, ElasticsearchFacts: facts.ElasticsearchFacts{
		ILMIndices: []facts.ILMIndex{
			{Index: "stuck", Policy: "p", Phase: "warm", Action: "allocate", Step: "check-allocation", Age: 9 * day, StepAge: 2 * day, HasStepAge: true},
			{Index: "moving", Policy: "p", Phase: "warm", Action: "allocate", Step: "check-allocation", Age: 9 * day, StepAge: 600, HasStepAge: true},
			{Index: "waiting", Policy: "p", Phase: "hot", Action: "rollover", Step: "check-rollover-ready", Age: 2 * day, StepAge: 2 * day, HasStepAge: true},
		},
		ClusterSettings: &facts.ClusterSettings{MaxShardsPerNode: 1000, ThresholdEnabled: true},
		NodeShards:      []facts.NodeShards{{Node: "full", Shards: 900}, {Node: "roomy", Shards: 100}},
	}})
	cfg := advisor.DefaultConfig()
	for check, want := range map[string]string{"es_ilm_stuck": "stuck", "es_shards_per_node": "node full"} {
		fs := evaluate(t, f, cfg, nil, check)
		if len(fs) != 1 || fs[0].Object != want || fs[0].Severity != advisor.Warning {
			t.Errorf("%s: %+v, want one warning on %s", check, fs, want)
		}
	}
}
