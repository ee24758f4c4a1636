package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// quartiles are the median and the interquartile range of ds.
func quartiles(ds []time.Duration) (q1, median, q3 time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { // linear between the closest ranks
		x := p * float64(len(s)-1)
		i := int(x)
		if i+1 >= len(s) {
			return s[i]
		}
		return s[i] + time.Duration((x-float64(i))*float64(s[i+1]-s[i]))
	}
	return at(0.25), at(0.5), at(0.75)
}

func (c *contestant) median() time.Duration {
	_, m, _ := quartiles(c.walls())
	return m
}

func (c *contestant) walls() []time.Duration {
	ds := make([]time.Duration, len(c.samples))
	for i, s := range c.samples {
		ds[i] = s.wall
	}
	return ds
}

// complete says whether every scrape was complete: the query errors did not move and the
// series count stayed within 1 % of the first scrape's (the sessions of the other
// contestants come and go in pg_stat_activity's series); else why not. The floor reads rows,
// not series: its count follows pg_stat_statements, which the contestants fill.
func (c *contestant) complete() (bool, string) {
	if len(c.samples) == 0 {
		return false, "no scrape"
	}
	if c.proc == nil {
		return true, "-"
	}
	first := c.samples[0]
	lo, hi := first.series, first.series
	for _, s := range c.samples[1:] {
		if s.errors != first.errors {
			return false, fmt.Sprintf("%s %g then %g", queryErrors, first.errors, s.errors)
		}
		lo, hi = min(lo, s.series), max(hi, s.series)
	}
	if (hi-lo)*100 > first.series {
		return false, fmt.Sprintf("series %d to %d", lo, hi)
	}
	if lo != hi {
		return true, fmt.Sprintf("yes (series %d to %d)", lo, hi)
	}
	return true, "yes"
}

func report(w io.Writer, all []*contestant, floor *contestant) {
	fmt.Fprintf(w, "  %-34s %8s %17s %7s %10s %9s %10s %9s %8s %s\n", "per scrape", "median", "IQR", "×floor",
		"CPU", "server", "blks read", "sessions", "series", "complete")
	fm := floor.median()
	for _, c := range all {
		q1, med, q3 := quartiles(c.walls())
		n := float64(len(c.samples))
		cpu := "-"
		if c.proc != nil {
			cpu = fmt.Sprintf("%.3fs", c.cost.cpu.Seconds()/n)
		}
		_, why := c.complete()
		fmt.Fprintf(w, "  %-34s %7.3fs %7.3fs–%7.3fs %6.2f× %10s %8.3fs %10.0f %9.2f %8d %s\n", c.name,
			med.Seconds(), q1.Seconds(), q3.Seconds(), float64(med)/float64(fm), cpu,
			c.cost.execTime.Seconds()/n, float64(c.cost.blksRead)/n, float64(c.cost.sessions)/n,
			c.samples[len(c.samples)-1].series, why)
	}
}

// steadyResult is one exporter's cost over --steady, per hour.
type steadyResult struct {
	name            string
	scrapes         int
	serverPerHour   time.Duration
	cpuPerHour      time.Duration
	sessionsPerHour float64
	blksReadPerHour float64
	complete        bool
	why             string
}

// steadyState runs the exporters with their defaults (ours with the advisor on) and scrapes
// them every o.interval for o.steady.
func (b *bench) steadyState(ctx context.Context) ([]steadyResult, error) {
	var all []*contestant
	defer func() {
		for _, c := range all {
			c.stop()
		}
	}()
	ours, err := b.start(ctx, "persistence_exporter, advisor on", roleSteady, b.o.exporter, "--config.file="+b.config(roleSteady, true))
	if err != nil {
		return nil, err
	}
	all = append(all, ours)
	if b.o.postgresExporter != "" {
		if c, err := b.start(ctx, "postgres_exporter, defaults", rolePGEDefault, b.o.postgresExporter); err == nil {
			all = append(all, c)
		}
		if c, err := b.start(ctx, "postgres_exporter, comparable", rolePGEComparable, b.o.postgresExporter,
			"--extend.query-path="+b.write("queries-steady.yaml", comparableQueries(true))); err == nil {
			all = append(all, c)
		}
	}
	before := make([]usage, len(all))
	for i, c := range all {
		if _, err := c.scrape(ctx); err != nil { // the first, cold scrape: start-up, not steady
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if before[i], err = b.usage(ctx, c); err != nil {
			return nil, err
		}
	}
	logf("steady state: %s at %s", b.o.steady, b.o.interval)
	t0 := time.Now()
	tick := time.NewTicker(b.o.interval)
	defer tick.Stop()
	for time.Since(t0) < b.o.steady {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		for _, c := range all {
			s, err := c.scrape(ctx)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.name, err)
			}
			c.samples = append(c.samples, s)
		}
	}
	elapsed := time.Since(t0)
	perHour := func(v float64) float64 { return v * float64(time.Hour) / float64(elapsed) }
	var out []steadyResult
	for i, c := range all {
		u, err := b.usage(ctx, c)
		if err != nil {
			return nil, err
		}
		d := u.sub(before[i])
		r := steadyResult{name: c.name, scrapes: len(c.samples),
			serverPerHour:   time.Duration(perHour(float64(d.execTime))),
			cpuPerHour:      time.Duration(perHour(float64(d.cpu))),
			sessionsPerHour: perHour(float64(d.sessions)),
			blksReadPerHour: perHour(float64(d.blksRead))}
		r.complete, r.why = c.complete()
		out = append(out, r)
	}
	return out, nil
}

func reportSteady(w io.Writer, rs []steadyResult, o options) {
	fmt.Fprintf(w, "\n  steady state, %s at a %s interval, per hour:\n", o.steady, o.interval)
	fmt.Fprintf(w, "  %-34s %8s %12s %10s %12s %10s %s\n", "", "scrapes", "server exec", "CPU", "blks read", "sessions", "complete")
	for _, r := range rs {
		fmt.Fprintf(w, "  %-34s %8d %11.1fs %9.1fs %12.0f %10.1f %s\n", r.name, r.scrapes,
			r.serverPerHour.Seconds(), r.cpuPerHour.Seconds(), r.blksReadPerHour, r.sessionsPerHour, r.why)
	}
}

// goals prints the verdicts of issue 13's goals and returns the ones missed. A goal whose
// contestant was not measured is reported as not evaluated, and is not a miss.
func goals(w io.Writer, floor, cold, warm, pgExporter *contestant, adv *advisorRun, steady []steadyResult, o options) []string {
	var missed []string
	fmt.Fprintln(w, "\n  goals:")
	verdict := func(goal string, ok bool) {
		v := "met"
		if !ok {
			v = "MISSED"
			missed = append(missed, goal)
		}
		fmt.Fprintf(w, "    %-6s  %s\n", v, goal)
	}
	skip := func(goal, why string) { fmt.Fprintf(w, "    %-6s  %s (%s)\n", "n/a", goal, why) }

	fm, cm, wm := floor.median(), cold.median(), warm.median()
	verdict(fmt.Sprintf("cold scrape %.3fs <= 2.5 × floor (%.3fs)", cm.Seconds(), 2.5*fm.Seconds()), cm*2 <= fm*5)
	if pgExporter != nil {
		pm := pgExporter.median()
		verdict(fmt.Sprintf("cold scrape %.3fs < pg_exporter's %.3fs", cm.Seconds(), pm.Seconds()), cm < pm)
	} else {
		skip("cold scrape below pg_exporter's", "pg_exporter not measured: --pg-exporter")
	}
	verdict(fmt.Sprintf("warm scrape %.3fs <= 0.050s", wm.Seconds()), wm <= 50*time.Millisecond)
	for _, c := range []*contestant{cold, warm} {
		ok, why := c.complete()
		verdict(fmt.Sprintf("%s: every scrape complete (%s)", c.name, why), ok)
	}
	_, aw, _ := adv.wall()
	_, ac, _ := adv.cpu()
	verdict(fmt.Sprintf("advise %.3fs <= 1s wall (median of %d)", aw.Seconds(), len(adv.walls)), aw <= time.Second)
	verdict(fmt.Sprintf("advise %.3f CPU-s <= 0.3 CPU-s (median of %d)", ac.Seconds(), len(adv.cpus)), ac <= 300*time.Millisecond)
	if len(steady) > 0 {
		s := steady[0] // ours
		verdict(fmt.Sprintf("server execution %.1fs per hour at %s, advisor on, <= 60s", s.serverPerHour.Seconds(), o.interval),
			s.serverPerHour <= time.Minute)
		verdict(fmt.Sprintf("%s: every steady scrape complete (%s)", s.name, s.why), s.complete)
	} else {
		skip("server execution per hour <= 60s", "run with --steady 10m")
	}
	return missed
}

// comparableQueries gives postgres_exporter what our default pack exports of tables,
// indexes and statements (its defaults cover databases, activity, locks, bgwriter,
// replication and settings), in its own queries.yaml format: the same views and top-N, and,
// with cache, cache_seconds equal to our packs' TTLs (without, every query runs at every
// scrape, as ours with --query.ttl-cap=0s).
func comparableQueries(cache bool) string {
	ttl := map[string]string{"@TTL_TABLES@": "60", "@TTL_INDEXES@": "60", "@TTL_STATEMENTS@": "30"}
	s := comparableQueriesText
	for k, v := range ttl {
		if !cache {
			v = "0"
		}
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

const comparableQueriesText = `pg_stat_user_tables:
  cache_seconds: @TTL_TABLES@
  query: |
    SELECT current_database() datname, s.schemaname, s.relname, s.seq_scan, s.seq_tup_read,
           s.idx_scan, s.idx_tup_fetch, s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,
           s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze,
           COALESCE(s.last_vacuum, '1970-01-01Z') AS last_vacuum,
           COALESCE(s.last_autovacuum, '1970-01-01Z') AS last_autovacuum,
           COALESCE(s.last_analyze, '1970-01-01Z') AS last_analyze,
           COALESCE(s.last_autoanalyze, '1970-01-01Z') AS last_autoanalyze,
           s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
           io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit,
           pg_table_size(s.relid) AS table_bytes, pg_indexes_size(s.relid) AS index_bytes
    FROM pg_stat_user_tables s JOIN pg_statio_user_tables io ON io.relid = s.relid
         JOIN pg_class c ON c.oid = s.relid
    ORDER BY c.relpages DESC LIMIT 200
  metrics:
    - datname: {usage: "LABEL", description: "database"}
    - schemaname: {usage: "LABEL", description: "schema"}
    - relname: {usage: "LABEL", description: "table"}
    - seq_scan: {usage: "COUNTER", description: "seq scans"}
    - seq_tup_read: {usage: "COUNTER", description: "rows read by seq scans"}
    - idx_scan: {usage: "COUNTER", description: "index scans"}
    - idx_tup_fetch: {usage: "COUNTER", description: "rows fetched by index scans"}
    - n_tup_ins: {usage: "COUNTER", description: "inserts"}
    - n_tup_upd: {usage: "COUNTER", description: "updates"}
    - n_tup_del: {usage: "COUNTER", description: "deletes"}
    - n_tup_hot_upd: {usage: "COUNTER", description: "HOT updates"}
    - n_live_tup: {usage: "GAUGE", description: "live rows"}
    - n_dead_tup: {usage: "GAUGE", description: "dead rows"}
    - n_mod_since_analyze: {usage: "GAUGE", description: "changed since analyze"}
    - last_vacuum: {usage: "GAUGE", description: "last vacuum"}
    - last_autovacuum: {usage: "GAUGE", description: "last autovacuum"}
    - last_analyze: {usage: "GAUGE", description: "last analyze"}
    - last_autoanalyze: {usage: "GAUGE", description: "last autoanalyze"}
    - vacuum_count: {usage: "COUNTER", description: "vacuums"}
    - autovacuum_count: {usage: "COUNTER", description: "autovacuums"}
    - analyze_count: {usage: "COUNTER", description: "analyzes"}
    - autoanalyze_count: {usage: "COUNTER", description: "autoanalyzes"}
    - heap_blks_read: {usage: "COUNTER", description: "heap blocks read"}
    - heap_blks_hit: {usage: "COUNTER", description: "heap blocks hit"}
    - idx_blks_read: {usage: "COUNTER", description: "index blocks read"}
    - idx_blks_hit: {usage: "COUNTER", description: "index blocks hit"}
    - table_bytes: {usage: "GAUGE", description: "table size"}
    - index_bytes: {usage: "GAUGE", description: "index size"}
pg_stat_user_indexes:
  cache_seconds: @TTL_INDEXES@
  query: |
    SELECT current_database() datname, s.schemaname, s.relname, s.indexrelname, s.idx_scan,
           s.idx_tup_read, s.idx_tup_fetch, io.idx_blks_read, io.idx_blks_hit,
           pg_relation_size(s.indexrelid) AS size_bytes
    FROM pg_stat_user_indexes s JOIN pg_statio_user_indexes io ON io.indexrelid = s.indexrelid
         JOIN pg_class c ON c.oid = s.indexrelid
    ORDER BY c.relpages DESC LIMIT 200
  metrics:
    - datname: {usage: "LABEL", description: "database"}
    - schemaname: {usage: "LABEL", description: "schema"}
    - relname: {usage: "LABEL", description: "table"}
    - indexrelname: {usage: "LABEL", description: "index"}
    - idx_scan: {usage: "COUNTER", description: "scans"}
    - idx_tup_read: {usage: "COUNTER", description: "entries read"}
    - idx_tup_fetch: {usage: "COUNTER", description: "rows fetched"}
    - idx_blks_read: {usage: "COUNTER", description: "blocks read"}
    - idx_blks_hit: {usage: "COUNTER", description: "blocks hit"}
    - size_bytes: {usage: "GAUGE", description: "size"}
pg_stat_statements:
  cache_seconds: @TTL_STATEMENTS@
  query: |
    SELECT s.queryid::text AS queryid, d.datname, r.rolname AS user, s.calls,
           s.total_exec_time / 1000 AS seconds, s.rows, s.shared_blks_hit, s.shared_blks_read,
           s.blk_read_time / 1000 AS read_seconds, s.blk_write_time / 1000 AS write_seconds
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.userid
    ORDER BY s.total_exec_time DESC LIMIT 100
  metrics:
    - queryid: {usage: "LABEL", description: "query id"}
    - datname: {usage: "LABEL", description: "database"}
    - user: {usage: "LABEL", description: "role"}
    - calls: {usage: "COUNTER", description: "calls"}
    - seconds: {usage: "COUNTER", description: "time"}
    - rows: {usage: "COUNTER", description: "rows"}
    - shared_blks_hit: {usage: "COUNTER", description: "hits"}
    - shared_blks_read: {usage: "COUNTER", description: "reads"}
    - read_seconds: {usage: "COUNTER", description: "read time"}
    - write_seconds: {usage: "COUNTER", description: "write time"}
`
