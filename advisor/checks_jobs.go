package advisor

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The checks of PostgreSQL's scheduled and replicated work: pg_cron jobs, time-range
// partitions made ahead of time, and logical replication subscriptions (the seed's DR
// region). Each check decodes its facts once per target and hands them to a pure function
// the unit tests call with facts built by hand.

// jobChecks are the checks of this file, in report order.
func jobChecks() []Check {
	return []Check{
		check{"cron_jobs", "pg_cron jobs failing, or not succeeding on schedule", []Need{{Query: "pg_cron_jobs", Roles: primaryOnly}}, cronJobs},
		check{"partition_horizon", "Time-range partitioned tables running out of partitions",
			[]Need{{Query: "pg_partitioned_tables", Roles: primaryOnly}}, partitionHorizon},
		// a physical replica has the primary's subscriptions without running them
		check{"logical_subscriptions", "Logical replication subscriptions disabled, erroring or lagging",
			[]Need{{Query: "pg_stat_subscription", Roles: primaryOnly}}, subscriptions},
	}
}

// primaryFacts runs fn on the eligible PostgreSQL primaries with the facts get reads of
// them.
func primaryFacts[T any](c *Context, get func(*facts.Target) []T, fn func(t *facts.Target, v []T) []Finding) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		if t.Kind != queries.SourcePostgres || t.Role != queries.RolePrimary {
			continue
		}
		out = append(out, fn(t, get(t))...)
	}
	return out
}

var primaryOnly = []string{string(queries.RolePrimary)}

// quoteLiteral writes s as a SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// cronJobs: pg_cron jobs that failed in the last 24 hours, or have not succeeded on
// schedule. Only the primary runs jobs; a replica's copy of the tables says nothing new.
func cronJobs(c *Context) []Finding {
	return primaryFacts(c, func(t *facts.Target) []facts.CronJob { return t.CronJobs }, func(t *facts.Target, jobs []facts.CronJob) []Finding {
		return cronFindings(t.Name, jobs, c.Facts.At, c.Config.Thresholds)
	})
}

// cronFindings judges the jobs of one target at time at.
func cronFindings(target string, jobs []facts.CronJob, at time.Time, th Thresholds) []Finding {
	var out []Finding
	for _, j := range jobs {
		if !j.Active {
			continue // unscheduled on purpose
		}
		history := "SELECT start_time, end_time, status, return_message FROM cron.job_run_details\n" +
			"WHERE jobid = (SELECT jobid FROM cron.job WHERE jobname = " + quoteLiteral(j.Name) + ")\nORDER BY start_time DESC LIMIT 20;"
		ev := []Evidence{{"schedule", j.Schedule + " (" + j.Timezone + ")"},
			{"runs in the last 24 h", fmt.Sprintf("%d failed, %d succeeded", j.Failed, j.Succeeded)}}
		if !j.LastSuccess.IsZero() {
			ev = append(ev, Evidence{"last success", fmt.Sprintf("%s (%s ago)", j.LastSuccess.UTC().Format(time.RFC3339),
				humanDuration(at.Sub(j.LastSuccess).Seconds()))})
		}
		if j.Failed > 0 {
			stillFailing := j.LastFailure.After(j.LastSuccess)
			sev := Warning
			if stillFailing && j.Failed >= th.CronFailuresCritical {
				sev = Critical
			}
			state := "its latest run succeeded"
			if stillFailing {
				state = "its latest run failed"
			}
			msg := j.LastError
			if len(msg) > 300 {
				msg = msg[:300] + "…"
			}
			out = append(out, Finding{Severity: sev, Target: target, Object: "cron:" + j.Name + "/failures",
				Summary: fmt.Sprintf("pg_cron job %s failed %d times in the last 24 hours (%s): %s", j.Name, j.Failed, state, msg),
				Evidence: append(ev, Evidence{"last error", msg},
					Evidence{"last failure", j.LastFailure.UTC().Format(time.RFC3339)}),
				Window: &Window{From: at.Add(-24 * time.Hour), To: at, Basis: "cron.job_run_details"},
				Fix: Fix{Kind: "sql", Text: history, Database: j.CronDatabase,
					Why: "the job's own error is in return_message; fix its command or what it depends on, then watch the next run succeed " +
						"(cron.job_run_details keeps every run)"}})
		}
		if j.LastSuccess.IsZero() {
			continue // never succeeded as far as pg_cron recorded: its failures speak, or it is new
		}
		loc, err := time.LoadLocation(cronZone(j.Timezone))
		if err != nil {
			continue
		}
		due, ok := nextRun(j.Schedule, j.LastSuccess, loc)
		if !ok || !at.After(due.Add(th.CronGrace)) {
			continue
		}
		sev := Warning
		if again, ok := nextRun(j.Schedule, due, loc); ok && at.After(again.Add(th.CronGrace)) {
			sev = Critical // two scheduled runs without a success
		}
		out = append(out, Finding{Severity: sev, Target: target, Object: "cron:" + j.Name + "/schedule",
			Summary: fmt.Sprintf("pg_cron job %s has not succeeded since %s: its run due at %s is %s late",
				j.Name, j.LastSuccess.UTC().Format(time.RFC3339), due.UTC().Format(time.RFC3339), humanDuration(at.Sub(due).Seconds())),
			Evidence: append(ev, Evidence{"due", due.UTC().Format(time.RFC3339)}, Evidence{"grace", humanDuration(th.CronGrace.Seconds())}),
			Fix: Fix{Kind: "sql", Text: history, Database: j.CronDatabase,
				Why: "a run that is not recorded did not start (pg_cron not running: check cron.database_name and the server log) " +
					"or is still running (a stuck job holds its slot: see pg_stat_activity); one that failed is in return_message"}})
	}
	return out
}

// cronZone maps pg_cron's default zone name to Go's.
func cronZone(tz string) string {
	if tz == "" || strings.EqualFold(tz, "GMT") {
		return "UTC"
	}
	return tz
}

// nextRun is the first time after after that schedule fires, in loc: a cron expression of
// five fields (numbers, names, *, ranges, lists, steps), an @-macro, or pg_cron's "N seconds".
// ok is false for what it cannot read (pg_cron's $ for the last day of the month, @reboot):
// no verdict rather than a false alarm.
func nextRun(schedule string, after time.Time, loc *time.Location) (time.Time, bool) {
	s := strings.TrimSpace(schedule)
	if n, unit, ok := strings.Cut(s, " "); ok && strings.HasPrefix(strings.TrimSpace(unit), "second") {
		sec, err := strconv.Atoi(n)
		if err != nil || sec < 1 || sec > 59 {
			return time.Time{}, false
		}
		return after.Add(time.Duration(sec) * time.Second), true
	}
	if m, ok := cronMacros[strings.ToLower(s)]; ok {
		s = m
	}
	f := strings.Fields(s)
	if len(f) != 5 {
		return time.Time{}, false
	}
	var sets [5]map[int]bool
	for i, spec := range cronFields {
		set, ok := cronField(f[i], spec)
		if !ok {
			return time.Time{}, false
		}
		sets[i] = set
	}
	minutes, hours, doms, months, dows := sets[0], sets[1], sets[2], sets[3], sets[4]
	if dows[7] {
		dows[0] = true
	}
	// cron's rule: when both days are restricted, either matches
	either := !strings.HasPrefix(f[2], "*") && !strings.HasPrefix(f[4], "*")
	dayOK := func(t time.Time) bool {
		d, w := doms[t.Day()], dows[int(t.Weekday())]
		if either {
			return d || w
		}
		return d && w
	}
	t := after.In(loc)
	t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, loc)
	for limit := t.AddDate(5, 0, 0); t.Before(limit); {
		switch {
		case !months[int(t.Month())]:
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc)
		case !dayOK(t):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		case !hours[t.Hour()]:
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, loc)
		case !minutes[t.Minute()]:
			t = t.Add(time.Minute)
		default:
			return t, true
		}
	}
	return time.Time{}, false // e.g. the 30th of February
}

var cronMacros = map[string]string{
	"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
	"@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}

type cronSpec struct {
	min, max int
	names    []string // names of min, min+1, ...
}

var cronFields = [5]cronSpec{
	{0, 59, nil}, {0, 23, nil}, {1, 31, nil},
	{1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// cronField reads one field: a list of *, N, N-M, each with an optional /step.
func cronField(s string, spec cronSpec) (map[int]bool, bool) {
	set := map[int]bool{}
	num := func(v string) (int, bool) {
		for i, n := range spec.names {
			if strings.EqualFold(v, n) {
				return spec.min + i, true
			}
		}
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= spec.min && n <= spec.max
	}
	for _, part := range strings.Split(s, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return nil, false
			}
			step = n
		}
		lo, hi := spec.min, spec.max
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var ok bool
			if lo, ok = num(a); !ok {
				return nil, false
			}
			hi = lo
			if isRange {
				if hi, ok = num(b); !ok || hi < lo {
					return nil, false
				}
			} else if hasStep {
				hi = spec.max // N/step: from N to the end
			}
		}
		for v := lo; v <= hi; v += step {
			set[v] = true
		}
	}
	return set, true
}

// partitionHorizon: time-range partitioned tables whose partitions end too soon: past the
// last one, an INSERT fails ("no partition of relation ... found for row").
func partitionHorizon(c *Context) []Finding {
	return primaryFacts(c, func(t *facts.Target) []facts.PartitionedTable { return t.PartitionedTables }, func(t *facts.Target, tables []facts.PartitionedTable) []Finding {
		return partitionFindings(t.Name, tables, c.Facts.At, c.Config.Thresholds)
	})
}

// maxPartitionStatements bounds the CREATE TABLE statements of one fix.
const maxPartitionStatements = 12

// partitionFindings judges the partitioned tables of one target at time at.
func partitionFindings(target string, tables []facts.PartitionedTable, at time.Time, th Thresholds) []Finding {
	var out []Finding
	for _, p := range tables {
		if !p.HasLast || p.Unbounded {
			continue // no verdict: bounds this does not read, or nothing is ever beyond them
		}
		left := p.LastTo.Sub(at)
		sev, ok := severityAt(-left.Seconds(), -th.PartitionHorizon.Seconds(), -th.PartitionHorizonCritical.Seconds())
		if !ok {
			continue
		}
		end, ends := "in "+humanDuration(left.Seconds()), "ends in "+humanDuration(left.Seconds())
		if left <= 0 {
			end, ends = humanDuration(-left.Seconds())+" ago", "ended "+humanDuration(-left.Seconds())+" ago"
		}
		why := "an INSERT whose " + p.KeyType + " key is past " + boundLiteral(p.LastTo, p.KeyType) +
			" fails with \"no partition of relation found for row\"; create the partitions ahead of time (the seed's create-partition " +
			"pg_cron job makes next month's on the 1st: see the cron_jobs check)"
		summary := fmt.Sprintf("the last partition of %s, %s, %s: rows past it have no partition", p.Relation, p.Last, ends)
		if p.HasDefault {
			// no INSERT fails, but rows pile into the DEFAULT partition, which every query
			// scans and which a later CREATE ... PARTITION OF must scan (and fails on if it
			// holds rows of the new range)
			sev--
			summary = fmt.Sprintf("the last partition of %s, %s, %s: rows past it go to the DEFAULT partition", p.Relation, p.Last, ends)
			why = "rows past the partitions land in the DEFAULT partition: no INSERT fails, but queries over the new range scan it, " +
				"and creating the partition later fails while it holds rows of that range (move them out first); create them ahead of time"
		}
		stmts, n := nextPartitions(p, at.Add(th.PartitionHorizon))
		if n > maxPartitionStatements {
			stmts = append(stmts, fmt.Sprintf("-- and %d more, up to %s", n-maxPartitionStatements, at.Add(th.PartitionHorizon).UTC().Format(time.DateOnly)))
		}
		out = append(out, Finding{Severity: sev, Target: target, Object: "partitions:" + relationObject(p.Relation),
			Summary: summary,
			Evidence: []Evidence{
				{"partitions", strconv.Itoa(p.Partitions)},
				{"last partition", fmt.Sprintf("%s FROM (%s) TO (%s)", p.Last, boundLiteral(p.LastFrom, p.KeyType), boundLiteral(p.LastTo, p.KeyType))},
				{"last partition ends", end},
				{"default partition", map[bool]string{true: "yes", false: "no"}[p.HasDefault]},
				{"horizon", humanDuration(th.PartitionHorizon.Seconds())},
			},
			Fix: Fix{Kind: "sql", Text: strings.Join(stmts, "\n"), Database: p.Database, Why: why}})
	}
	return out
}

func relationObject(r facts.Relation) string {
	if r.Database == "" {
		return r.String()
	}
	return r.Database + "/" + r.String()
}

// nextPartitions returns the statements that create the partitions following p's last one,
// at its step, until they reach until (at least one), and how many that takes. The names
// follow the last partition's when it ends in its start date (executions_2024_02 ->
// executions_2024_03), else they are the table's name and the start.
func nextPartitions(p facts.PartitionedTable, until time.Time) ([]string, int) {
	step := partitionStep(p.LastFrom, p.LastTo)
	layout := "2006_01_02"
	if p.LastFrom.Day() == 1 && p.LastTo.Day() == 1 && midnight(p.LastFrom) && midnight(p.LastTo) {
		layout = "2006_01"
	} else if !midnight(p.LastFrom) || !midnight(p.LastTo) {
		layout = "2006_01_02_1504"
	}
	prefix := p.Name + "_"
	for _, l := range []string{"2006_01_02_1504", "2006_01_02", "2006_01", "20060102", "200601"} {
		if s := p.LastFrom.Format(l); strings.HasSuffix(p.Last, s) && len(p.Last) > len(s) {
			prefix, layout = strings.TrimSuffix(p.Last, s), l
			break
		}
	}
	var out []string
	n := 0
	for from := p.LastTo; n == 0 || from.Before(until); n++ {
		to := step(from)
		if !to.After(from) {
			break
		}
		if n < maxPartitionStatements {
			out = append(out, fmt.Sprintf("CREATE TABLE %s.%s PARTITION OF %s FOR VALUES FROM (%s) TO (%s);",
				facts.QuoteIdent(p.Schema), facts.QuoteIdent(prefix+from.Format(layout)), p.Qualified(),
				quoteLiteral(boundLiteral(from, p.KeyType)), quoteLiteral(boundLiteral(to, p.KeyType))))
		}
		from = to
	}
	return out, n
}

// partitionStep is the step of a partition from..to: whole months when both bounds start a
// month, whole days when both start a day (the same wall-clock time across a DST change),
// else the duration.
func partitionStep(from, to time.Time) func(time.Time) time.Time {
	if midnight(from) && midnight(to) {
		if from.Day() == 1 && to.Day() == 1 {
			months := (to.Year()-from.Year())*12 + int(to.Month()-from.Month())
			return func(t time.Time) time.Time { return t.AddDate(0, months, 0) }
		}
		days := int(to.Sub(from).Round(time.Hour).Hours()+12) / 24
		return func(t time.Time) time.Time { return t.AddDate(0, 0, days) }
	}
	d := to.Sub(from)
	return func(t time.Time) time.Time { return t.Add(d) }
}

func midnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// boundLiteral writes a bound as pg_get_expr does for the key's type.
func boundLiteral(t time.Time, keyType string) string {
	switch keyType {
	case "date":
		return t.Format(time.DateOnly)
	case "timestamp with time zone":
		return t.Format("2006-01-02 15:04:05-07:00")
	}
	return t.Format(time.DateTime)
}

// subscriptions: logical replication subscriptions (the seed's DR region subscribes to the
// primary region's publication) that are disabled, erroring or behind.
func subscriptions(c *Context) []Finding {
	return primaryFacts(c, func(t *facts.Target) []facts.Subscription { return t.Subscriptions }, func(t *facts.Target, subs []facts.Subscription) []Finding {
		base := map[string]subscriptionErrors{}
		since := time.Time{}
		for _, s := range subs {
			if b, at, ok := c.Past.memory().subscriptionBaseline(t.Name, s.Name, c.Facts.At, c.Config.Thresholds.SubscriptionErrorWindow); ok {
				base[s.Name], since = b, at
			}
		}
		return subscriptionFindings(t.Name, subs, base, since, c.Facts.At, c.Config.Thresholds)
	})
}

// subscriptionErrors are a subscription's error counters at one time.
type subscriptionErrors struct{ apply, sync float64 }

// subscriptionFindings judges the subscriptions of one target at time at; base holds the
// error counters each had at since (none on the advisor's first run).
func subscriptionFindings(target string, subs []facts.Subscription, base map[string]subscriptionErrors, since, at time.Time, th Thresholds) []Finding {
	var out []Finding
	for _, s := range subs {
		object := "subscription:" + s.Name
		ident := facts.QuoteIdent(s.Name)
		errs := []Evidence{{"apply workers", strconv.Itoa(s.Workers)}}
		if s.HasErrors {
			errs = append(errs, Evidence{"errors since the statistics reset", fmt.Sprintf("%.0f apply, %.0f sync", s.ApplyErrors, s.SyncErrors)})
		}
		b, hasBase := base[s.Name]
		rising := s.HasErrors && hasBase && (s.ApplyErrors > b.apply || s.SyncErrors > b.sync)
		logFix := Fix{Kind: "action", Text: "grep 'logical replication' in the subscriber's server log",
			Why: "the apply worker logs each error (a conflicting row, a missing table or column, a lost slot) and exits; " +
				"the launcher restarts it and it fails again until the cause is fixed, while the publisher's slot keeps WAL"}
		switch {
		case !s.Enabled:
			out = append(out, Finding{Severity: Warning, Target: target, Object: object,
				Summary:  fmt.Sprintf("subscription %s is disabled: the DR copy falls behind and the publisher's slot keeps WAL", s.Name),
				Evidence: append([]Evidence{{"enabled", "no"}}, errs...),
				Fix: Fix{Kind: "sql", Text: "ALTER SUBSCRIPTION " + ident + " ENABLE;",
					Why: "a subscription disabled by hand or by disable_on_error after an error: fix that error first (server log), then enable it"}})
		case rising:
			f := Finding{Severity: Critical, Target: target, Object: object,
				Summary: fmt.Sprintf("subscription %s is erroring: %.0f apply and %.0f sync errors since %s", s.Name,
					s.ApplyErrors-b.apply, s.SyncErrors-b.sync, since.UTC().Format(time.RFC3339)),
				Evidence: errs, Window: &Window{From: since, To: at, Basis: "between advisor runs"}, Fix: logFix}
			out = append(out, f)
		case s.Workers == 0:
			sev := Warning
			if s.ApplyErrors+s.SyncErrors > 0 {
				sev = Critical
			}
			out = append(out, Finding{Severity: sev, Target: target, Object: object,
				Summary:  fmt.Sprintf("subscription %s is enabled but no apply worker runs: it does not replicate", s.Name),
				Evidence: errs, Fix: logFix})
		case s.HasErrors && s.ApplyErrors+s.SyncErrors > 0 && !hasBase:
			out = append(out, Finding{Severity: Info, Target: target, Object: object,
				Summary:  fmt.Sprintf("subscription %s had errors since its statistics were reset; it runs now", s.Name),
				Evidence: errs,
				Fix: Fix{Kind: "sql", Text: "SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription WHERE subname = " + quoteLiteral(s.Name) + ";",
					Why: "once the cause is known, reset the counters so that new errors stand out"}})
		}
		if s.Enabled && s.HasLag && (s.LagBytes >= float64(th.SubscriptionLagBytes) || s.LatestEndAge >= th.SubscriptionLag.Seconds()) {
			out = append(out, Finding{Severity: Warning, Target: target, Object: object + "/lag",
				Summary: fmt.Sprintf("subscription %s is behind its publisher: %s received and not yet confirmed, last confirmed %s ago",
					s.Name, humanBytes(s.LagBytes), humanDuration(s.LatestEndAge)),
				Evidence: []Evidence{{"received, unconfirmed", humanBytes(s.LagBytes)}, {"since the last confirmed position", humanDuration(s.LatestEndAge)},
					{"thresholds", humanBytes(float64(th.SubscriptionLagBytes)) + ", " + humanDuration(th.SubscriptionLag.Seconds())}},
				Fix: Fix{Kind: "action", Text: "SELECT * FROM pg_stat_subscription; -- on the subscriber, and pg_stat_activity of its apply worker",
					Why: "one apply worker replays a whole publication: a long transaction on the publisher, a lock on the subscriber's tables " +
						"or a slow disk there hold it back; what it has not applied is missing from the DR region"}})
		}
	}
	return out
}

// subscriptionHistory keeps each subscription's error counters across runs, so that errors
// rising now stand apart from old ones the statistics still count.
type subscriptionHistory struct {
	mu      sync.Mutex
	samples map[string][]subscriptionSample // by target and subscription, oldest first
}

type subscriptionSample struct {
	at time.Time
	subscriptionErrors
}

// record keeps what a run saw of every target's subscriptions; samples older than keep are
// dropped.
func (h *subscriptionHistory) record(s *facts.Snapshot, keep time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.samples == nil {
		h.samples = map[string][]subscriptionSample{}
	}
	for _, t := range s.Targets {
		for _, sub := range t.Subscriptions {
			if !sub.HasErrors {
				continue
			}
			k := t.Name + "\x00" + sub.Name
			samples := append(h.samples[k], subscriptionSample{s.At, subscriptionErrors{sub.ApplyErrors, sub.SyncErrors}})
			for len(samples) > 1 && s.At.Sub(samples[0].at) > keep {
				samples = samples[1:]
			}
			h.samples[k] = samples
		}
	}
}

// subscriptionBaseline returns the oldest counters of a subscription taken within window
// before at, and their time.
func (h *History) subscriptionBaseline(target, sub string, at time.Time, window time.Duration) (subscriptionErrors, time.Time, bool) {
	if h == nil {
		return subscriptionErrors{}, time.Time{}, false
	}
	h.subs.mu.Lock()
	defer h.subs.mu.Unlock()
	for _, s := range h.subs.samples[target+"\x00"+sub] {
		if !s.at.Before(at) {
			break
		}
		if at.Sub(s.at) <= window {
			return s.subscriptionErrors, s.at, true
		}
	}
	return subscriptionErrors{}, time.Time{}, false
}
