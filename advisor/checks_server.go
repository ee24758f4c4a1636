package advisor

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/units"
)

func replicationLag(c *Context) []Finding {
	th := c.Config.Thresholds
	limitB, limitS := float64(th.ReplicaLagBytes), th.ReplicaLag.Seconds()
	severity := func(bytes, seconds float64) (Severity, bool) {
		switch {
		case bytes > 100*limitB || seconds > 10*limitS:
			return Critical, true
		case bytes > limitB || seconds > limitS:
			return Warning, true
		}
		return Info, false
	}
	var out []Finding
	for _, t := range c.Eligible {
		for _, sb := range t.Standbys {
			sev, ok := severity(sb.ReplayLagBytes, sb.ReplayLagSeconds)
			if !ok {
				continue
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: "replica:" + sb.Name,
				Summary: fmt.Sprintf("replica %s has not replayed %s of WAL (%s behind)", sb.Name, humanBytes(sb.ReplayLagBytes), humanDuration(sb.ReplayLagSeconds)),
				Evidence: []Evidence{
					{"replay lag", humanBytes(sb.ReplayLagBytes)}, {"replay lag time", humanDuration(sb.ReplayLagSeconds)},
					{"sent lag", humanBytes(sb.SentLagBytes)}, {"state", sb.State}, {"sync_state", sb.SyncState},
					{"threshold", fmt.Sprintf("%s or %s", humanBytes(limitB), humanDuration(limitS))},
				},
				Fix: Fix{Kind: "action", Text: "on " + sb.Name + ": SELECT pg_is_wal_replay_paused(), pg_last_xact_replay_timestamp();",
					Why: "a replica this far behind serves stale reads and, beyond maximum_lag_on_failover, cannot be promoted; look for a paused replay, long queries conflicting with replay, or saturated I/O"},
			})
		}
		// a replica's own view, when no primary of its cluster reports on it and replay is
		// not paused (replay_paused says so)
		if r := t.Recovery; r != nil && !r.Paused && !primaryEligible(c, t) {
			if sev, ok := severity(r.ReplayLagBytes, r.LagSeconds); ok {
				out = append(out, Finding{
					Severity: sev, Target: t.Name, Object: "replay",
					Summary:  fmt.Sprintf("%s of WAL received but not replayed", humanBytes(r.ReplayLagBytes)),
					Evidence: []Evidence{{"receive - replay", humanBytes(r.ReplayLagBytes)}, {"since last replay", humanDuration(r.LastReplaySeconds)}, {"paused", strconv.FormatBool(r.Paused)}},
					Fix: Fix{Kind: "action", Text: "SELECT pg_is_wal_replay_paused();",
						Why: "replay falls behind reception: replay is paused, blocked by a conflicting query, or I/O-bound"},
				})
			}
		}
	}
	return out
}

// primaryEligible reports whether the primary of t's cluster is among the targets a check
// looks at.
func primaryEligible(c *Context, t *facts.Target) bool {
	for _, cl := range c.Facts.Clusters {
		if slices.Contains(cl.Members, t) {
			p := cl.Primary()
			return p != nil && slices.Contains(c.Eligible, p)
		}
	}
	return false
}

// splitBrain finds clusters (targets sharing a system identifier) with more than one primary: after
// a promotion the old primary still takes writes. Primaries configured in different clusters
// are deliberate copies (a restore of a backup keeps the system identifier) and are not
// compared.
func splitBrain(c *Context) []Finding {
	var out []Finding
	for _, cl := range c.Facts.Clusters {
		if cl.SystemID == "" {
			continue
		}
		var primaries []*facts.Target
		for _, m := range cl.Members {
			if m.Role == "primary" && slices.Contains(c.Eligible, m) {
				primaries = append(primaries, m)
			}
		}
		for _, group := range byDeclaredCluster(primaries) {
			if len(group) > 1 {
				out = append(out, splitBrainFinding(cl, group))
			}
		}
	}
	return out
}

// byDeclaredCluster splits primaries by their configured cluster; those configured in none
// belong with every group.
func byDeclaredCluster(primaries []*facts.Target) [][]*facts.Target {
	var names []string
	var unnamed []*facts.Target
	for _, p := range primaries {
		switch {
		case p.Cluster == "":
			unnamed = append(unnamed, p)
		case !slices.Contains(names, p.Cluster):
			names = append(names, p.Cluster)
		}
	}
	if len(names) == 0 {
		return [][]*facts.Target{unnamed}
	}
	var groups [][]*facts.Target
	for _, n := range names {
		var g []*facts.Target
		for _, p := range primaries {
			if p.Cluster == n || p.Cluster == "" {
				g = append(g, p)
			}
		}
		groups = append(groups, g)
	}
	return groups
}

func splitBrainFinding(cl *facts.Cluster, primaries []*facts.Target) Finding {
	type member struct {
		t        *facts.Target
		timeline int
		known    bool
	}
	ms := make([]member, len(primaries))
	for i, p := range primaries {
		tl, ok := p.Timeline, p.HasTimeline
		ms[i] = member{p, tl, ok}
	}
	// the oldest timeline first: that primary was promoted earliest, so it is the old one
	sort.SliceStable(ms, func(i, j int) bool {
		if ms[i].known != ms[j].known {
			return ms[i].known
		}
		if ms[i].timeline != ms[j].timeline {
			return ms[i].timeline < ms[j].timeline
		}
		return ms[i].t.Name < ms[j].t.Name
	})
	names := make([]string, len(ms))
	ev := []Evidence{{"system identifier", cl.SystemID}}
	for i, m := range ms {
		names[i] = m.t.Name
		v := "role primary (not in recovery), timeline unknown"
		if m.known {
			v = fmt.Sprintf("role primary (not in recovery), timeline %d", m.timeline)
		}
		ev = append(ev, Evidence{m.t.Name, v})
	}
	// the newest primary is the one on the highest timeline, when only one is there
	last := ms[len(ms)-1]
	newest := last.known && last.timeline > ms[len(ms)-2].timeline
	keep, old := "the primary you keep", "the other primary"
	if len(ms) > 2 {
		old = "each other primary"
	}
	decide := "1. Decide which server stays the primary: the timelines do not tell which was promoted last; compare SELECT pg_current_wal_lsn() on each and ask which one the clients write to."
	if newest {
		keep, old = last.t.Name, names[0]
		decide = fmt.Sprintf("1. Keep %s, promoted last (timeline %d); the old primary is %s.", keep, last.timeline, old)
		if len(ms) > 2 {
			old = "each of " + joinNames(names[:len(names)-1])
			decide = fmt.Sprintf("1. Keep %s, promoted last (timeline %d); the old primaries are %s.", keep, last.timeline, joinNames(names[:len(names)-1]))
		}
	}
	text := strings.Join([]string{
		decide,
		fmt.Sprintf("2. Fence %s now: stop it (pg_ctl stop -m fast), or at least block its clients in pg_hba.conf and reload.", old),
		fmt.Sprintf("3. Point every client and pgbouncer ([databases] host=...) at %s, then RELOAD pgbouncer.", keep),
		fmt.Sprintf("4. Make %s a replica of %s: copy out the writes it took after the promotion, then pg_rewind --target-pgdata=$PGDATA --source-server='host=... user=...', touch $PGDATA/standby.signal, set primary_conninfo to %s, and start it.", old, keep, keep),
	}, "\n")
	cluster := cl.Name
	which := "cluster " + cluster
	if cluster != cl.SystemID {
		which += " (system identifier " + cl.SystemID + ")"
	}
	all := "both"
	if len(names) > 2 {
		all = "all"
	}
	summary := fmt.Sprintf("split brain: %s are %s primaries of %s and can each take writes", joinNames(names), all, which)
	return Finding{
		Severity: Critical, Target: ms[0].t.Name, Cluster: cluster, Object: "primaries",
		Summary: summary, Evidence: ev,
		Fix: Fix{Kind: "action", Text: text,
			Why: "servers that share a system identifier are one cluster, and only one of them may take writes: every write to either makes the histories diverge further, and what the old primary took after the promotion is not on the new one (pg_rewind discards it). Never let both take writes."},
	}
}

// joinNames writes "a and b", "a, b and c".
func joinNames(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

var replayPaused = check{id: "replay_paused", title: "Replicas with WAL replay paused",
	needs: []Need{{Query: "pg_replication", Roles: []string{"replica"}}},
	run: atMostOne(func(_ *Context, t *facts.Target) (Finding, bool) {
		r := t.Recovery
		if r == nil || !r.Paused {
			return Finding{}, false
		}
		return Finding{
			Severity: Warning, Object: "replay",
			Summary:  "WAL replay is paused",
			Evidence: []Evidence{{"receive - replay", humanBytes(r.ReplayLagBytes)}, {"since last replay", humanDuration(r.LastReplaySeconds)}},
			Fix: Fix{Kind: "sql", Text: "SELECT pg_wal_replay_resume();",
				Why: "run it on the replica: while replay is paused the replica falls further behind and WAL piles up on it"},
		}, true
	})}

var notStreaming = check{id: "replica_not_streaming", title: "Replicas not streaming from their primary",
	needs: []Need{{Query: "pg_replication", Roles: []string{"replica"}}},
	run: atMostOne(func(_ *Context, t *facts.Target) (Finding, bool) {
		r := t.Recovery
		if r == nil || r.Streaming {
			return Finding{}, false
		}
		return Finding{
			Severity: Critical, Object: "wal_receiver",
			Summary:  "the replica's WAL receiver is not streaming",
			Evidence: []Evidence{{"since last replay", humanDuration(r.LastReplaySeconds)}},
			Fix: Fix{Kind: "action", Text: "SELECT * FROM pg_stat_wal_receiver; -- and the replica's log",
				Why: "without streaming the replica only catches up from the WAL archive, if at all: check primary_conninfo, the network, and the primary's replication slot"},
		}, true
	})}

func slots(c *Context) []Finding {
	limit := float64(c.Config.Thresholds.SlotRetainedBytes)
	var out []Finding
	for _, t := range primaries(c) {
		for _, s := range t.Slots {
			var sev Severity
			var why []string
			switch {
			case s.WALStatus == "lost":
				sev, why = Critical, append(why, "its WAL is gone: the consumer can no longer resume from it")
			case s.WALStatus == "unreserved":
				sev, why = Critical, append(why, "its WAL is past max_wal_size and will be removed at the next checkpoint")
			}
			if s.RetainedBytes > limit {
				sev, why = max(sev, Warning), append(why, fmt.Sprintf("it holds back %s of WAL (threshold %s)", humanBytes(s.RetainedBytes), humanBytes(limit)))
			}
			if !s.Active {
				sev, why = max(sev, Warning), append(why, "no consumer is connected")
			}
			if len(why) == 0 {
				continue
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: "slot:" + s.Name,
				Summary:  fmt.Sprintf("%s slot %s: %s", s.Type, s.Name, strings.Join(why, "; ")),
				Evidence: []Evidence{{"active", strconv.FormatBool(s.Active)}, {"retained WAL", humanBytes(s.RetainedBytes)}, {"wal_status", s.WALStatus}},
				Fix: Fix{Kind: "sql", Text: fmt.Sprintf("SELECT pg_drop_replication_slot('%s');", strings.ReplaceAll(s.Name, "'", "''")),
					Why: "if the consumer is gone for good; otherwise bring it back: an abandoned slot keeps WAL (and old rows for logical slots) until the disk fills"},
			})
		}
	}
	return out
}

func longTransactions(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range c.Eligible {
		o := t.Oldest
		if o == nil {
			continue
		}
		sessions := t.LongSessions
		var ev []Evidence
		var pids []string
		for _, s := range sessions {
			if s.XactAge < th.LongTransaction.Seconds() && s.StateAge < th.IdleInTransaction.Seconds() {
				continue
			}
			ev = append(ev, Evidence{fmt.Sprintf("pid %d", s.PID), fmt.Sprintf("%s@%s (%s), %s, transaction %s old: %s",
				s.User, s.Database, s.Application, s.State, humanDuration(s.XactAge), truncate(s.Query, 120))})
			pids = append(pids, strconv.FormatInt(s.PID, 10))
			if len(ev) == 5 {
				break
			}
		}
		terminate := "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (" + strings.Join(pids, ", ") + ");"
		if o.XactAge >= th.LongTransaction.Seconds() {
			sev := Warning
			if o.XactAge >= th.LongTransactionCritical.Seconds() {
				sev = Critical
			}
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: "transactions",
				Summary:  fmt.Sprintf("the oldest transaction has been open %s", humanDuration(o.XactAge)),
				Evidence: append([]Evidence{{"oldest transaction", humanDuration(o.XactAge)}, {"oldest snapshot (xmin age)", fmt.Sprintf("%.0f transactions", o.XminAge)}}, ev...),
				Fix: Fix{Kind: "sql", Text: terminate,
					Why: "a long transaction holds back vacuum on every table (dead rows pile up) and, on a replica with hot_standby_feedback, on the primary too; end it after checking with its owner"},
			})
		}
		if o.IdleInTransactionAge >= th.IdleInTransaction.Seconds() {
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "idle_in_transaction",
				Summary:  fmt.Sprintf("%.0f sessions idle inside a transaction, the longest for %s", o.IdleInTransaction, humanDuration(o.IdleInTransactionAge)),
				Evidence: append([]Evidence{{"longest idle in transaction", humanDuration(o.IdleInTransactionAge)}}, ev...),
				Fix: Fix{Kind: "setting", Text: fmt.Sprintf("ALTER SYSTEM SET idle_in_transaction_session_timeout = '%ds'; SELECT pg_reload_conf();", int(th.IdleInTransaction.Seconds())),
					Why: "an application that opens a transaction and waits holds locks and snapshots; the timeout ends such sessions"},
			})
		}
	}
	return out
}

var connections = check{id: "connections", title: "Connections near max_connections",
	needs: []Need{{Query: "pg_connections"}},
	run: atMostOne(func(c *Context, t *facts.Target) (Finding, bool) {
		th := c.Config.Thresholds
		cn := t.Connections
		if cn == nil || cn.Max-cn.Reserved <= 0 {
			return Finding{}, false
		}
		use := cn.Used / (cn.Max - cn.Reserved)
		sev, ok := severityAt(use, th.ConnectionsWarning, th.ConnectionsCritical)
		return Finding{
			Severity: sev, Object: "connections",
			Summary:  fmt.Sprintf("%.0f of %.0f usable connection slots in use (%s)", cn.Used, cn.Max-cn.Reserved, pct(use)),
			Evidence: []Evidence{{"client backends", fmt.Sprintf("%.0f", cn.Used)}, {"max_connections", fmt.Sprintf("%.0f", cn.Max)}, {"reserved", fmt.Sprintf("%.0f", cn.Reserved)}},
			Fix: Fix{Kind: "action", Text: "route clients through pgbouncer (transaction pooling), or raise max_connections (a restart, and memory per connection)",
				Why: "when the slots run out, new connections fail"},
		}, ok
	})}

func setup(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		set := t.Settings
		if _, ok := t.Extensions["pg_stat_statements"]; !ok && t.Role == "primary" {
			preload := set["shared_preload_libraries"].Setting
			text := "CREATE EXTENSION pg_stat_statements;"
			if !strings.Contains(preload, "pg_stat_statements") {
				text = "ALTER SYSTEM SET shared_preload_libraries = '" + strings.TrimPrefix(preload+",pg_stat_statements", ",") + "'; -- then restart\n" + text
			}
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: "extension:pg_stat_statements",
				Summary:  "pg_stat_statements is not installed: the slow-query checks cannot run",
				Evidence: []Evidence{{"shared_preload_libraries", preload}},
				Fix:      Fix{Kind: "sql", Text: text, Why: "it records what every statement costs; without it there is no way to know which queries to fix"},
			})
		}
		if s, ok := set["track_io_timing"]; ok && s.Setting == "off" {
			out = append(out, Finding{
				Severity: Info, Target: t.Name, Object: "setting:track_io_timing",
				Summary: "track_io_timing is off: block read and write times are not measured",
				Fix: Fix{Kind: "setting", Text: "ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();",
					Why: "it fills blk_read_time in pg_stat_statements and pg_stat_database; its cost is small on modern clocks (pg_test_timing tells)"},
			})
		}
	}
	return out
}

// baseValue reads a postgresql.conf value into base units (bytes, seconds), or false for a
// value that is not a number (on, replica).
func baseValue(v string) (float64, bool) { return units.Parse(v, units.Postgres) }

func settingsProfile(c *Context) []Finding {
	var out []Finding
	names := make([]string, 0, len(c.Config.Profile))
	for n := range c.Config.Profile {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, t := range c.Eligible {
		set := t.Settings
		var ev, bad []Evidence
		var fix []string
		for _, name := range names {
			want := c.Config.Profile[name]
			s, ok := set[name]
			if !ok {
				// a typo in advisor.profile, or a setting of another version or extension
				bad = append(bad, Evidence{name, "not a setting of this server: check advisor.profile"})
				continue
			}
			differs := !strings.EqualFold(s.Setting, want)
			if s.IsNumber && s.Type != "bool" {
				wv, ok := baseValue(want)
				if !ok {
					bad = append(bad, Evidence{name, fmt.Sprintf("profile value %q is not a number (the server has %s)", want, settingText(s))})
					continue
				}
				differs = abs(wv-s.Value) > 1e-9*max(abs(wv), 1)
			}
			if !differs {
				continue
			}
			ev = append(ev, Evidence{name, fmt.Sprintf("%s, profile %s", settingText(s), want)})
			fix = append(fix, fmt.Sprintf("ALTER SYSTEM SET %s = '%s';", name, want))
		}
		if len(ev)+len(bad) == 0 {
			continue
		}
		summary := fmt.Sprintf("%d settings differ from the deployment's profile", len(ev))
		if len(bad) > 0 {
			summary += fmt.Sprintf("; %d profile entries do not apply", len(bad))
		}
		fixText := strings.Join(fix, "\n") + "\nSELECT pg_reload_conf(); -- some need a restart (pg_settings.pending_restart)"
		if len(fix) == 0 {
			fixText = "-- nothing to change on the server: correct advisor.profile"
		}
		ev = append(ev, bad...)
		out = append(out, Finding{
			Severity: Info, Target: t.Name, Object: "settings",
			Summary:  summary,
			Evidence: ev,
			Fix: Fix{Kind: "setting", Text: fixText,
				Why: "the profile is the postgresql.conf the deployment was designed with; a difference may be deliberate"},
		})
	}
	return out
}

// settingText writes a setting for people: sizes and durations in readable units.
func settingText(s facts.Setting) string {
	switch {
	case !s.IsNumber || s.Unit == "" || s.Value < 0:
		if s.Unit != "" {
			return s.Setting + " (" + s.Unit + ")"
		}
		return s.Setting
	case strings.HasSuffix(s.Unit, "B"):
		return humanBytes(s.Value)
	default: // ms, s, min
		return humanDuration(s.Value)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// DefaultChecks are the checks the advisor runs, in report order.
func DefaultChecks() []Check {
	primary, replica := []string{"primary"}, []string{"replica"}
	return slices.Concat([]Check{
		check{"split_brain", "Two primaries of one cluster (split brain)", []Need{{Query: "pg_system", Roles: primary}}, splitBrain},
		check{"replication_lag", "Replicas behind their primary",
			[]Need{{Query: "pg_stat_replication", Roles: primary}, {Query: "pg_replication", Roles: replica}}, replicationLag},
		replayPaused, notStreaming,
		check{"replication_slot", "Replication slots inactive or holding back WAL", []Need{{Query: "pg_replication_slots", Roles: primary}}, slots},
		check{"xid_wraparound", "Transaction ID and multixact age (wraparound)",
			[]Need{{Query: "pg_database", Roles: primary}, {Query: "pg_settings", Roles: primary}}, wraparound},
		check{"long_transaction", "Long transactions and sessions idle in a transaction",
			[]Need{{Query: "pg_stat_activity_oldest"}, {Query: "pg_stat_activity_long"}}, longTransactions},
		connections,
		check{"slow_query", "Statements slower on average than slow_query_mean", []Need{{Query: "pg_stat_statements_advisor"}}, slowQueries},
		check{"top_statement", "Statements taking a large share of all statement time", []Need{{Query: "pg_stat_statements_advisor"}}, topStatements},
		bloat{index: false}, bloat{index: true},
		check{"dead_tuples", "Dead rows piling up beyond what triggers autovacuum",
			[]Need{{Query: "pg_stat_user_tables", Roles: primary}, {Query: "pg_settings", Roles: primary}}, deadTuples},
		check{"unused_index", "Indexes no query has scanned, on the primary or any replica",
			[]Need{{Query: "pg_stat_user_indexes"}, {Query: "pg_stat_database"}, {Query: "pg_system"}}, unusedIndexes},
		check{"redundant_index", "Duplicate indexes, and btree indexes another one covers",
			[]Need{{Query: "pg_index_definitions", Roles: primary}}, duplicateIndexes},
		check{"invalid_index", "Invalid indexes (a failed CREATE INDEX CONCURRENTLY)", []Need{{Query: "pg_stat_user_indexes", Roles: primary}}, invalidIndexes},
		check{"missing_index", "Large tables read mostly by sequential scans", []Need{{Query: "pg_stat_user_tables"}, {Query: "pg_system"}}, missingIndexes},
		check{"sequence_exhaustion", "Sequences near the end of their range", []Need{{Query: "pg_sequences", Roles: primary}}, sequences},
		check{"setup", "Monitoring setup: pg_stat_statements, track_io_timing", []Need{{Query: "pg_settings"}}, setup},
		check{"settings_profile", "Settings that differ from the deployment's postgresql.conf profile", []Need{{Query: "pg_settings"}}, settingsProfile},
	}, backupChecks(), redisChecks(), elasticsearchChecks(), jobChecks(), forecastChecks())
}
