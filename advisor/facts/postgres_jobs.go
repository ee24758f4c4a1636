package facts

import (
	"fmt"
	"time"
)

// The facts of PostgreSQL's scheduled work and logical replication: pg_cron jobs
// (pg_cron_jobs), time-range partitioned tables (pg_partitioned_tables) and subscriptions
// (pg_stat_subscription, pg_stat_subscription_stats). Each is decoded once per gather with
// the other PostgreSQL facts; a column it reads and the result lacks makes the query
// unavailable, with a reason naming the query and column.

// CronJob is a pg_cron job and its runs (pg_cron_jobs).
type CronJob struct {
	// Name is the job's name, or its id when it has none; Database is where it runs, and
	// CronDatabase where pg_cron keeps its tables (cron.database_name).
	Name, Database, CronDatabase string
	Active                       bool
	// Schedule is the job's cron expression ("0 3 * * *") or interval ("30 seconds");
	// Timezone is the zone pg_cron reads it in (cron.timezone, GMT by default).
	Schedule, Timezone string
	// Failed and Succeeded count the runs of the last 24 hours; LastFailure is the start of
	// the newest failed run among them and LastError its message.
	Failed, Succeeded int
	LastFailure       time.Time
	LastError         string
	// LastSuccess is the end of the newest successful run pg_cron recorded, however old
	// (zero: none).
	LastSuccess time.Time
}

// cronJobs decodes pg_cron_jobs.
func (d *decoder) cronJobs() []CronJob {
	return each(d.rows("pg_cron_jobs"), func(r *Rows, i int) CronJob {
		return CronJob{Name: r.Str(i, "job"), Database: r.Str(i, "job_database"), CronDatabase: r.Str(i, "cron_database"),
			Active:   r.Bool(i, "active"),
			Schedule: r.Str(i, "schedule"), Timezone: r.Str(i, "timezone"),
			Failed: int(r.Float(i, "failed")), Succeeded: int(r.Float(i, "succeeded")),
			LastFailure: r.Time(i, "last_failure"), LastError: r.Str(i, "last_error"),
			LastSuccess: r.Time(i, "last_success_any")}
	})
}

// PartitionedTable is a table partitioned by range on one date or timestamp column
// (pg_partitioned_tables), with the partition that reaches furthest.
type PartitionedTable struct {
	Relation
	// KeyType is the partition key's type: date, timestamp without time zone or timestamp
	// with time zone.
	KeyType    string
	Partitions int
	// HasDefault: a DEFAULT partition takes the rows no other partition covers.
	HasDefault bool
	// Unbounded: a partition reaches MAXVALUE, so no row is ever beyond the partitions.
	Unbounded bool
	// Last is the partition that reaches furthest; LastFrom and LastTo are its bounds (a
	// timestamp key read as UTC). HasLast is false when there is none, or its bounds are
	// not dates or times this reads (MINVALUE, infinity).
	Last             string
	LastFrom, LastTo time.Time
	HasLast          bool
}

// partitionedTables decodes pg_partitioned_tables.
func (d *decoder) partitionedTables() []PartitionedTable {
	return each(d.rows("pg_partitioned_tables"), func(r *Rows, i int) PartitionedTable {
		p := PartitionedTable{Relation: Relation{r.Str(i, "datname"), r.Str(i, "schemaname"), r.Str(i, "relname")},
			KeyType: r.Str(i, "key_type"), Partitions: int(r.Float(i, "partitions")),
			HasDefault: r.Float(i, "default_partitions") > 0, Unbounded: r.Float(i, "unbounded_partitions") > 0,
			Last: r.Str(i, "last_partition")}
		from, err1 := ParseBound(r.Str(i, "last_from"))
		to, err2 := ParseBound(r.Str(i, "last_to"))
		p.LastFrom, p.LastTo, p.HasLast = from, to, p.Last != "" && err1 == nil && err2 == nil && to.After(from)
		return p
	})
}

// boundLayouts are the ways pg_get_expr writes a date or timestamp bound (DateStyle ISO).
var boundLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999", "2006-01-02",
}

// ParseBound reads a range partition bound's literal as pg_get_expr writes it for a date,
// timestamp or timestamptz key; a time without a zone is read as UTC.
func ParseBound(s string) (time.Time, error) {
	for _, l := range boundLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("partition bound %q is not a date or a timestamp", s)
}

// Subscription is a logical replication subscription (pg_stat_subscription), with its error
// counters when the server has them (pg_stat_subscription_stats, PostgreSQL 15+).
type Subscription struct {
	Name    string
	Enabled bool
	// Workers is the number of running apply workers: 0 for an enabled subscription means
	// its worker keeps failing (or has not started yet).
	Workers int
	// LagBytes is WAL received beyond the position reported back to the publisher;
	// LatestEndAge is the seconds since that report. HasLag is false without a worker.
	LagBytes, LatestEndAge float64
	HasLag                 bool
	// ApplyErrors and SyncErrors count errors since the statistics were reset; HasErrors is
	// false before PostgreSQL 15.
	ApplyErrors, SyncErrors float64
	HasErrors               bool
}

// subscriptions decodes pg_stat_subscription, joined with pg_stat_subscription_stats when
// that result is there.
func (d *decoder) subscriptions() []Subscription {
	type counts struct{ apply, sync float64 }
	errs := map[string]counts{}
	forEach(d.rows("pg_stat_subscription_stats"), func(s *Rows, i int) {
		errs[s.Str(i, "subname")] = counts{s.Float(i, "apply_error_count"), s.Float(i, "sync_error_count")}
	})
	return each(d.rows("pg_stat_subscription"), func(r *Rows, i int) Subscription {
		sub := Subscription{Name: r.Str(i, "subname"), Enabled: r.Bool(i, "enabled"), Workers: int(r.Float(i, "workers"))}
		lag, ok1 := r.Num(i, "apply_lag_bytes")
		age, ok2 := r.Num(i, "latest_end_age")
		if ok1 && ok2 {
			sub.LagBytes, sub.LatestEndAge, sub.HasLag = lag, age, true
		}
		if c, ok := errs[sub.Name]; ok {
			sub.ApplyErrors, sub.SyncErrors, sub.HasErrors = c.apply, c.sync, true
		}
		return sub
	})
}
