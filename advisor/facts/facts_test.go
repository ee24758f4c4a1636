package facts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var at = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// gathered decodes one PostgreSQL target of version with one query's result.
func gathered(version int, q *queries.Query, r *queries.Rows) *facts.Target {
	snap := &collector.Snapshot{Target: &collector.Target{Name: "p", Kind: queries.SourcePostgres}, At: at, Up: true,
		Info:    queries.ServerInfo{Version: version, Role: queries.RolePrimary},
		Results: []*collector.Result{{Query: q, Rows: r, Started: at}}}
	return facts.FromSnapshots(at, []*collector.Snapshot{snap}, nil).Targets[0]
}

// TestMissingColumn: a column a fact reads is expected unless the pack limits it to other
// versions; a result without it leaves the fact empty and says which column, even when the
// result has no rows.
func TestMissingColumn(t *testing.T) {
	q := &queries.Query{Name: "pg_connections", Columns: []queries.Column{{Name: "used"}, {Name: "max"},
		{Name: "reserved", MinVersion: 180000}}}
	r := &queries.Rows{Columns: []string{"used", "max"}, Values: [][]any{{int64(5), int64(100)}}}

	old := gathered(170000, q, r)
	if ok, reason := old.Available("pg_connections"); !ok {
		t.Errorf("reserved is a column of 18 only, yet on 17: %s", reason)
	}
	if c := old.Connections; c == nil || c.Used != 5 || c.Max != 100 || c.Reserved != 0 {
		t.Errorf("connections on 17: %+v", c)
	}

	ok, reason := gathered(180000, q, r).Available("pg_connections")
	if ok || reason != "query pg_connections has no column reserved, which the advisor reads (renamed in the pack?)" {
		t.Errorf("on 18: available %v, %q", ok, reason)
	}
	if c := gathered(180000, q, r).Connections; c != nil {
		t.Errorf("a fact from a result without its column: %+v", c)
	}

	// relname renamed to table_name, on a server without user tables yet
	empty := gathered(170000, &queries.Query{Name: "pg_stat_user_tables"},
		&queries.Rows{Columns: []string{"datname", "schemaname", "table_name"}})
	if ok, reason := empty.Available("pg_stat_user_tables"); ok || !strings.Contains(reason, "no column relname") {
		t.Errorf("a renamed column of a result without rows: available %v, %q", ok, reason)
	}
	if empty.Tables != nil {
		t.Errorf("tables from a result without its columns: %+v", empty.Tables)
	}
}

// TestReadsNamesConditionalReads: Reads names the queries a decoder reads only once another
// result is there (a sentinel's replicas after its masters), and those of every store.
func TestReadsNamesConditionalReads(t *testing.T) {
	reads := facts.Reads()
	for _, q := range []string{"redis_sentinel_master", "redis_sentinel_replica", "redis_sentinel_master_settings",
		"pg_stat_user_tables", "pg_table_sizes", "pg_index_definitions", "pg_database_size", "pgbackrest_stanza",
		"elasticsearch_ilm_index"} {
		if !reads[q] {
			t.Errorf("Reads lacks %s", q)
		}
	}
	if reads["pg_locks"] || reads["pg_stat_io"] {
		t.Errorf("Reads names exported-only queries: %v", reads)
	}
}
