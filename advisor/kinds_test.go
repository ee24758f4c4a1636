package advisor_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// TestTargetsOfOtherKinds: the advisor gathers every store; a PostgreSQL check neither reads
// nor skips a Redis target (up or down), and a Redis target joins no PostgreSQL cluster.
func TestTargetsOfOtherKinds(t *testing.T) {
	snaps := []*collector.Snapshot{
		{Target: &collector.Target{Name: "pg", Kind: queries.SourcePostgres}, At: now, Up: true,
			Info:    queries.ServerInfo{Role: queries.RolePrimary},
			Results: []*collector.Result{{Query: &queries.Query{Name: "pg_system"}, Rows: &queries.Rows{Columns: []string{"system_identifier", "start_time"}, Values: [][]any{{"42", 0.0}}}, Started: now}}},
		{Target: &collector.Target{Name: "cache", Kind: queries.SourceRedis}, At: now, Up: true},
		{Target: &collector.Target{Name: "cache-down", Kind: queries.SourceRedis}, At: now, ProbeErr: errors.New("refused")},
	}
	f := facts.FromSnapshots(now, snaps, map[string]string{"cache": "temporal"})
	if len(f.Clusters) != 1 || len(f.Clusters[0].Members) != 1 || f.Clusters[0].Members[0].Name != "pg" {
		t.Errorf("clusters %+v: want the PostgreSQL target alone", f.Clusters)
	}
	if len(f.Unplaced()) != 0 {
		t.Errorf("unplaced %v: a Redis target has no system identifier to lack", f.Unplaced())
	}
	cfg := advisor.DefaultConfig()
	rep := advisor.Evaluate(f, advisor.DefaultChecks(), &cfg, advisor.NewHistory())
	for _, s := range rep.Skipped {
		if strings.HasPrefix(s.Check, "redis_") {
			continue // a Redis check may skip the Redis target that is down
		}
		if s.Target != "pg" {
			t.Errorf("a PostgreSQL check skipped the Redis target %s: %s", s.Target, s.Reason)
		}
	}
	if k := advisor.Kinds(advisor.DefaultChecks()); len(k) == 0 || k[0] != queries.SourcePostgres {
		t.Errorf("kinds %v", k)
	}
}
