package advisor_test

import (
	"testing"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestIndexBloatAgainstSteadyState: an index filled by inserts in random key order measures
// about 40 % "bloat" against a fresh build at fillfactor 90 — its leaves settle about 70 %
// full — and that is no finding; an index a retention DELETE emptied to a fifth is; and a
// share of waste too small to be worth a rebuild is not, whatever the share.
func TestIndexBloatAgainstSteadyState(t *testing.T) {
	mib := float64(1 << 20)
	idx := func(name string, bytes, ff, measured float64) facts.Bloat {
		return facts.Bloat{Relation: facts.Relation{Database: "temporal", Schema: "public", Name: name}, Table: "executions",
			Bytes: bytes * mib, Fillfactor: ff, Measured: measured, HasMeasured: true}
	}
	s := snapshot(now, pg("pg", queries.RolePrimary, facts.PostgresFacts{IndexBloat: []facts.Bloat{
		idx("random_inserts", 200, 90, 0.41), // steady state: 24 % beyond it, no finding
		idx("retention", 200, 90, 0.80),      // 74 % beyond: warning
		idx("emptied_small", 20, 90, 0.80),   // 74 % of 20 MiB: 15 MiB, under bloat_min_waste
		idx("emptied_ff50", 200, 50, 0.80),   // packed at 50 %: the steady state is no denser
		idx("nearly_empty", 200, 90, 0.995),  // 99 %: critical
	}}))
	cfg := advisor.DefaultConfig()
	got := map[string]advisor.Severity{}
	for _, f := range evaluate(t, s, cfg, nil, "index_bloat") {
		got[f.Object] = f.Severity
	}
	want := map[string]advisor.Severity{
		"public.retention":    advisor.Warning,
		"public.emptied_ff50": advisor.Warning,
		"public.nearly_empty": advisor.Critical,
	}
	for obj, sev := range want {
		if g, ok := got[obj]; !ok || g != sev {
			t.Errorf("%s: severity %q, want %q (all: %v)", obj, got[obj], sev, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want only %v", got, want)
	}
}
