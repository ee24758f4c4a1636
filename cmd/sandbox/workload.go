package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// seedRows is how many visibility rows the sandbox starts with: enough that a sequential scan
// is something the advisor notices.
const seedRows = 100000

// loadSeed creates database temporal with the seed's schema, the extensions the advisor uses
// and a starting set of executions and visibility rows.
func loadSeed(ctx context.Context, pg *testenv.PGCluster, dir string) error {
	schema, err := os.ReadFile(filepath.Join(dir, "schema.sql"))
	if err != nil {
		return err
	}
	p := pg.Primary
	if err := p.Exec(ctx, "postgres", "CREATE DATABASE temporal"); err != nil {
		return err
	}
	if err := p.ExecScript(ctx, "temporal", string(schema)); err != nil {
		return fmt.Errorf("schema.sql: %w", err)
	}
	stmts := []string{"CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "CREATE EXTENSION IF NOT EXISTS pgstattuple"}
	if pg.HasLib("hypopg") {
		stmts = append(stmts, "CREATE EXTENSION IF NOT EXISTS hypopg")
	}
	stmts = append(stmts,
		fmt.Sprintf(`INSERT INTO temporal_visibility.executions (namespace_id, run_id, start_time, execution_time, workflow_id,
		   workflow_type_name, status, close_time, history_length, task_queue, search_attributes)
		 SELECT 'ns-' || (g %% 3), md5(g::text), now() - g * interval '1 second', now() - g * interval '1 second', 'wf-' || g,
		   (ARRAY['OrderWorkflow', 'PaymentWorkflow', 'ShippingWorkflow', 'TimerWorkflow'])[1 + g %% 4],
		   CASE WHEN g %% 10 = 0 THEN 1 ELSE 2 END, CASE WHEN g %% 10 <> 0 THEN now() - g * interval '1 second' + interval '5 minutes' END,
		   g %% 500, 'queue-' || (g %% 5), jsonb_build_object('CustomKeywordField', 'k' || (g %% 100))
		 FROM generate_series(1, %d) g`, seedRows),
		`INSERT INTO temporal.executions (shard_id, namespace_id, workflow_id, run_id, next_event_id, last_write_version,
		   data, data_encoding, state, state_encoding)
		 SELECT g % 16, 'ns-' || (g % 3), 'wf-' || g, md5(g::text), g % 500, 1, '\x00', 'proto3', '\x00', 'proto3'
		 FROM generate_series(1, 20000) g`,
		"ANALYZE")
	if err := p.Exec(ctx, "temporal", stmts...); err != nil {
		return err
	}
	if pg.HasLib("pg_cron") {
		cron, err := os.ReadFile(filepath.Join(dir, "cron.sql"))
		if err != nil {
			return err
		}
		if err := p.ExecScript(ctx, "postgres", string(cron)); err != nil {
			return fmt.Errorf("cron.sql: %w", err)
		}
	}
	return pg.WaitReplayed(ctx)
}

// The seed's three cache namespaces and their TTLs.
var namespaces = []struct {
	prefix string
	ttl    time.Duration
	keys   int
}{
	{"session:", time.Hour, 3000},
	{"wf_meta:", 10 * time.Minute, 1500},
	{"tq_info:", 5 * time.Minute, 300},
}

// fillCaches writes keys in the three namespaces, and a few without a TTL: a leak the
// cache-namespace audit reports.
func fillCaches(ctx context.Context, rs *testenv.RedisSet) error {
	c := rs.Primary.Client()
	defer c.Close()
	pipe := c.Pipeline()
	for _, ns := range namespaces {
		for i := range ns.keys {
			pipe.Set(ctx, fmt.Sprintf("%s%d", ns.prefix, i), "v", ns.ttl)
		}
	}
	for i := range 50 {
		pipe.Set(ctx, fmt.Sprintf("wf_meta:leaked:%d", i), "v", 0)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// workload runs until ctx ends: workflows start, progress and close through pgbouncer (as
// Temporal's history service does), the UI reads visibility from the replica, a report
// scans visibility without an index, an occasional slow report, retention deletes old rows,
// and the caches are read and written, with a slow cache command now and then. Errors are counted, not fatal: the servers may be
// stopping.
func workload(ctx context.Context, pg *testenv.PGCluster, pooler *testenv.Pgbouncer, rs *testenv.RedisSet) {
	// transaction pooling: no prepared statements across transactions
	w, err := pgx.Connect(ctx, pooler.DSN("temporal")+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		return
	}
	defer w.Close(context.Background())
	r, err := pgx.Connect(ctx, pg.Replica.DSN("temporal"))
	if err != nil {
		return
	}
	defer r.Close(context.Background())
	p, err := pgx.Connect(ctx, pg.Primary.DSN("temporal"))
	if err != nil {
		return
	}
	defer p.Close(context.Background())
	cache := rs.Primary.Client()
	defer cache.Close()

	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	n := seedRows
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n++
		ns := fmt.Sprintf("ns-%d", n%3)
		wf := fmt.Sprintf("wf-%d", n)
		run := fmt.Sprintf("%032x", rand.Uint64())
		// a workflow starts ...
		_, _ = w.Exec(ctx, `INSERT INTO temporal.executions (shard_id, namespace_id, workflow_id, run_id, next_event_id,
			last_write_version, data, data_encoding, state, state_encoding) VALUES ($1, $2, $3, $4, 1, 1, '\x00', 'proto3', '\x00', 'proto3')`,
			n%16, ns, wf, run)
		_, _ = w.Exec(ctx, `INSERT INTO temporal_visibility.executions (namespace_id, run_id, start_time, execution_time, workflow_id,
			workflow_type_name, status, task_queue, search_attributes) VALUES ($1, $2, now(), now(), $3, $4, 1, $5, '{}')`,
			ns, run, wf, []string{"OrderWorkflow", "PaymentWorkflow", "ShippingWorkflow", "TimerWorkflow"}[n%4], fmt.Sprintf("queue-%d", n%5))
		// ... makes progress, and closes
		_, _ = w.Exec(ctx, `UPDATE temporal.executions SET next_event_id = next_event_id + 3, db_record_version = db_record_version + 1
			WHERE shard_id = $1 AND namespace_id = $2 AND workflow_id = $3`, n%16, ns, wf)
		_, _ = w.Exec(ctx, `UPDATE temporal_visibility.executions SET status = 2, close_time = now(), history_length = 12
			WHERE namespace_id = $1 AND workflow_id = $2`, ns, fmt.Sprintf("wf-%d", n-20))
		// the UI reads from the replica
		_, _ = r.Exec(ctx, `SELECT workflow_id, status, start_time FROM temporal_visibility.executions
			WHERE namespace_id = $1 AND status = 1 ORDER BY start_time DESC LIMIT 20`, ns)
		_, _ = r.Exec(ctx, `SELECT * FROM temporal_visibility.executions WHERE namespace_id = $1 AND workflow_id = $2`, ns, wf)
		// a report with no index to help it
		if i%4 == 0 {
			_, _ = p.Exec(ctx, `SELECT count(*) FROM temporal_visibility.executions WHERE history_length = $1`, rand.IntN(500))
		}
		// a slow report now and then (pg_sleep stands in for a heavy aggregate)
		if i%80 == 40 {
			_, _ = p.Exec(ctx, `SELECT pg_sleep(1.2) AS heavy_report, workflow_type_name, count(*)
				FROM temporal_visibility.executions WHERE close_time > now() - interval '1 hour' GROUP BY 2`)
		}
		// retention
		if i%120 == 0 {
			_, _ = w.Exec(ctx, `DELETE FROM temporal_visibility.executions WHERE run_id IN (
				SELECT run_id FROM temporal_visibility.executions WHERE close_time < now() - interval '20 hours' LIMIT 2000)`)
		}
		// caches: sessions mostly hit, workflow metadata misses now and then
		_ = cache.Get(ctx, fmt.Sprintf("session:%d", rand.IntN(3500))).Err()
		if err := cache.Get(ctx, fmt.Sprintf("wf_meta:%d", rand.IntN(2000))).Err(); err == redis.Nil {
			_ = cache.Set(ctx, fmt.Sprintf("wf_meta:%d", rand.IntN(2000)), "v", 10*time.Minute).Err()
		}
		_ = cache.Set(ctx, fmt.Sprintf("tq_info:%d", n%300), "v", 5*time.Minute).Err()
		// a slow cache command now and then, for the slow log (DEBUG SLEEP stands in for a
		// KEYS over a large namespace; 50 ms is past Redis' default 10 ms slowlog threshold)
		if i%80 == 20 {
			_ = cache.Do(ctx, "DEBUG", "SLEEP", "0.05").Err()
		}
	}
}
