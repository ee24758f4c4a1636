package advisor

import (
	"fmt"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
)

// Forecasts: when a growing series reaches a threshold, by a least-squares line
// (promhistory.Fit) through its samples over forecast_window, read from Prometheus when
// advisor.prometheus is set and from the advisor's own samples otherwise. A date within
// forecast_horizon_critical is critical, within forecast_horizon a warning, within
// forecast_horizon_info info; later, nothing. A series already at its threshold is left to
// the check that reports the state (es_disk_watermark, redis_memory, ...).

// Forecast is the date a series reaches a threshold, and what it was fitted on.
type Forecast struct {
	// Date is when the fitted line reaches the threshold; Seconds is from the report's time
	// to it (0 when the line is past it already while the last value is not).
	Date    time.Time `json:"date"`
	Seconds float64   `json:"seconds"`
	// Threshold is the value reached, in the series' unit; Reaches says what it is.
	Threshold float64 `json:"threshold"`
	Reaches   string  `json:"reaches"`
	// Series is the series fitted, as PromQL; Source where its samples came from
	// (prometheus or memory).
	Series string `json:"series"`
	Source string `json:"source"`
	// Slope is the fitted growth per second; From, To and Samples bound the samples fitted.
	Slope   float64   `json:"slope_per_second"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Samples int       `json:"samples"`
}

// minForecastSamples is the fewest samples a forecast is fitted on.
const minForecastSamples = 5

// samplesOf returns a series' samples within forecast_window before now, with the current
// value (from the facts) as the last one, and their source. Since the last fall (trim), for
// series whose falls are resets (a vacuum freezing, a consumer catching up): the growth that
// matters is the one since.
func samplesOf(c *Context, k SeriesKey, current float64, trim bool) (promhistory.Series, string) {
	now := c.Facts.At
	s, source, ok := c.Past.Series(k)
	if !ok {
		s = promhistory.Series{Name: specOf(k.Metric).name(k)}
	}
	var kept []promhistory.Sample
	for _, p := range s.Samples {
		if p.At.Before(now) && now.Sub(p.At) <= c.Config.Thresholds.ForecastWindow {
			kept = append(kept, p)
		}
	}
	kept = append(kept, promhistory.Sample{At: now, Value: current})
	if trim {
		for i := len(kept) - 1; i > 0; i-- {
			if kept[i].Value < kept[i-1].Value {
				kept = kept[i:]
				break
			}
		}
	}
	s.Samples = kept
	return s, source
}

// forecast fits a series toward threshold; ok is false when the series is already there,
// has too few samples or too short a span, or does not grow toward it in time.
func forecast(c *Context, k SeriesKey, current, threshold float64, reaches string, trim bool) (*Forecast, bool) {
	if current >= threshold {
		return nil, false
	}
	s, source := samplesOf(c, k, current, trim)
	n := len(s.Samples)
	if n < minForecastSamples || s.Samples[n-1].At.Sub(s.Samples[0].At) < c.Config.Thresholds.ForecastMinSpan {
		return nil, false
	}
	f, ok := promhistory.Fit(s, threshold)
	if !ok {
		return nil, false
	}
	secs := max(0, f.Reaches.Sub(c.Facts.At).Seconds())
	if secs > c.Config.Thresholds.ForecastHorizonInfo.Seconds() {
		return nil, false
	}
	return &Forecast{Date: f.Reaches, Seconds: secs, Threshold: threshold, Reaches: reaches,
		Series: s.Name, Source: source, Slope: f.Slope, From: f.From, To: f.To, Samples: f.N}, true
}

// forecastSeverity is a forecast's severity by how soon its date comes.
func forecastSeverity(th Thresholds, f *Forecast) Severity {
	switch d := time.Duration(f.Seconds * float64(time.Second)); {
	case d <= th.ForecastHorizonCritical:
		return Critical
	case d <= th.ForecastHorizon:
		return Warning
	}
	return Info
}

// forecastFinding fills in what every forecast finding says: severity, the date in the
// summary, the fit in the evidence, the samples' window.
func forecastFinding(c *Context, f *Forecast, fd Finding, what string, unit func(float64) string) Finding {
	fd.Severity = forecastSeverity(c.Config.Thresholds, f)
	fd.Forecast = f
	fd.Summary = fmt.Sprintf("%s on %s (in %s) at the growth of the last %s", what, f.Date.UTC().Format("2006-01-02 15:04 MST"),
		humanDuration(f.Seconds), humanDuration(f.To.Sub(f.From).Seconds()))
	fd.Evidence = append(fd.Evidence,
		Evidence{"forecast date", f.Date.UTC().Format(time.RFC3339)},
		Evidence{"threshold", unit(f.Threshold) + " (" + f.Reaches + ")"},
		Evidence{"growth", unit(f.Slope*86400) + " a day"},
		Evidence{"fitted on", fmt.Sprintf("%s: %d samples from %s (%s)", f.Series, f.Samples, f.From.UTC().Format(time.RFC3339), f.Source)})
	fd.Window = &Window{From: f.From, To: f.To, Basis: "the samples the forecast was fitted on", Source: f.Source}
	return fd
}

func count(v float64) string { return fmt.Sprintf("%.0f", v) }

// forecastChecks are the forecast checks.
func forecastChecks() []Check {
	primary := []string{"primary"}
	return []Check{
		check{"pg_disk_forecast", "PostgreSQL databases growing to the size of their disk (pg_disk_size)",
			[]Need{{Query: "pg_database"}, {Query: "pg_database_size", When: diskSizeKnown}}, pgDiskForecast},
		check{"wraparound_forecast", "Transaction ID age growing to wraparound (2^31)",
			[]Need{{Query: "pg_database", Roles: primary}, {Query: "pg_settings", Roles: primary}}, wraparoundForecast},
		check{"sequence_forecast", "Sequences growing to the end of their range", []Need{{Query: "pg_sequences", Roles: primary}}, sequenceForecast},
		check{"slot_wal_forecast", "Replication slots retaining WAL up to max_slot_wal_keep_size or the disk's free space",
			[]Need{{Query: "pg_replication_slots", Roles: primary}, {Query: "pg_settings", Roles: primary},
				{Query: "pg_database_size", Roles: primary, When: diskSizeKnown}}, slotWALForecast},
		check{"redis_memory_forecast", "Redis used memory growing to maxmemory", []Need{redisNeed("redis_info", dataNode...)}, redisMemoryForecast},
		check{"es_disk_forecast", "Elasticsearch node disks growing to the next watermark",
			esNeeds("elasticsearch_cat_allocation", "elasticsearch_clustersettings"), esDiskForecast},
	}
}

// diskSizeKnown: the databases' sizes are read for the disk forecasts only, which need
// pg_disk_size (PostgreSQL cannot tell its disk).
func diskSizeKnown(cfg *Config) bool { return cfg.Thresholds.PGDiskSize > 0 }

// databasesSize is the sum of a server's database sizes, and whether it has any.
func databasesSize(t *facts.Target) (float64, bool) {
	v := specDatabaseSize.values(t)
	sum, ok := v[""]
	return sum, ok
}

func pgDiskForecast(c *Context) []Finding {
	disk := float64(c.Config.Thresholds.PGDiskSize)
	if disk <= 0 {
		return nil
	}
	var out []Finding
	for _, t := range c.Eligible {
		size, ok := databasesSize(t)
		if !ok {
			continue
		}
		f, ok := forecast(c, SeriesKey{specDatabaseSize.metric, t.Name, ""}, size, disk, "pg_disk_size", true)
		if !ok {
			continue
		}
		out = append(out, forecastFinding(c, f, Finding{Target: t.Name, Object: "disk",
			Evidence: []Evidence{{"databases", humanBytes(size)}, {"pg_disk_size", humanBytes(disk)}},
			Fix: Fix{Kind: "action", Text: "grow the disk of " + t.Name + ", or free space: drop unused indexes and partitions past retention, rebuild bloated tables and indexes",
				Why: "a full disk stops PostgreSQL (it cannot write WAL); the databases alone reach the disk's size then, WAL and logs need room too"},
		}, "the databases reach the disk size (pg_disk_size)", humanBytes))
	}
	return out
}

func wraparoundForecast(c *Context) []Finding {
	var out []Finding
	for _, t := range primaries(c) {
		freezeMax := t.Settings["autovacuum_freeze_max_age"].Value
		for _, d := range t.Databases {
			k := SeriesKey{specFrozenXIDAge.metric, t.Name, d.Name}
			f, ok := forecast(c, k, d.FrozenXIDAge, wraparoundLimit, "wraparound: PostgreSQL stops assigning transaction IDs", true)
			if !ok {
				continue
			}
			ev := []Evidence{{"age", count(d.FrozenXIDAge)}, {"autovacuum_freeze_max_age", count(freezeMax)}}
			if freezeMax > d.FrozenXIDAge {
				at := f.To.Add(time.Duration((freezeMax - d.FrozenXIDAge) / f.Slope * float64(time.Second)))
				ev = append(ev, Evidence{"reaches autovacuum_freeze_max_age", at.UTC().Format(time.RFC3339) + " (anti-wraparound autovacuum starts)"})
			}
			out = append(out, forecastFinding(c, f, Finding{Target: t.Name, Object: "database:" + d.Name, Evidence: ev,
				Fix: Fix{Kind: "sql", Database: d.Name, Text: "VACUUM (FREEZE, VERBOSE);",
					Why: "the oldest unfrozen transaction ID keeps aging: vacuums are not freezing (a long transaction, an abandoned slot or prepared transaction holds them back); at 2^31 PostgreSQL refuses writes"},
			}, "the oldest transaction ID of "+d.Name+" reaches wraparound", count))
		}
	}
	return out
}

func sequenceForecast(c *Context) []Finding {
	var out []Finding
	for _, t := range primaries(c) {
		for _, s := range t.Sequences {
			if s.Cycle {
				continue
			}
			f, ok := forecast(c, SeriesKey{specSequenceUsed.metric, t.Name, relationKey(s.Relation)}, s.UsedRatio, 1, "the end of its range: nextval fails", true)
			if !ok {
				continue
			}
			out = append(out, forecastFinding(c, f, Finding{Target: t.Name, Object: objectName(t, s.Relation),
				Evidence: []Evidence{{"type", s.DataType}, {"last_value", count(s.LastValue)}, {"used", pct(s.UsedRatio)}, {"database", s.Database}},
				Fix:      sequenceFix(s),
			}, s.DataType+" sequence reaches the end of its range", pct))
		}
	}
	return out
}

func slotWALForecast(c *Context) []Finding {
	var out []Finding
	for _, t := range primaries(c) {
		// the limit the slot reaches first: max_slot_wal_keep_size when set (the slot is
		// invalidated), else what the disk has beyond the databases (pg_disk_size)
		limit, reaches, short, fix := 0.0, "", "", Fix{}
		if keep := t.Settings["max_slot_wal_keep_size"]; keep.IsNumber && keep.Value > 0 {
			limit, reaches, short = keep.Value, "max_slot_wal_keep_size: the slot is invalidated (wal_status lost)", "max_slot_wal_keep_size"
			fix.Why = "past max_slot_wal_keep_size the slot loses its WAL and its consumer can no longer resume: a replica must be rebuilt, a logical subscriber resynchronised"
		} else if size, ok := databasesSize(t); ok && c.Config.Thresholds.PGDiskSize > 0 {
			limit, reaches, short = float64(c.Config.Thresholds.PGDiskSize)-size, "pg_disk_size less the databases: the disk is full", "the disk's free space"
			fix.Why = "without max_slot_wal_keep_size a slot keeps WAL until the disk is full, and then PostgreSQL stops"
		} else {
			continue
		}
		for _, s := range t.Slots {
			f, ok := forecast(c, SeriesKey{specSlotRetained.metric, t.Name, s.Name}, s.RetainedBytes, limit, reaches, true)
			if !ok {
				continue
			}
			fix := fix
			fix.Kind, fix.Text = "sql", fmt.Sprintf("SELECT pg_drop_replication_slot('%s');", s.Name)
			fix.Why = "bring the slot's consumer back, or drop the slot if it is gone for good: " + fix.Why
			out = append(out, forecastFinding(c, f, Finding{Target: t.Name, Object: "slot:" + s.Name,
				Evidence: []Evidence{{"retained WAL", humanBytes(s.RetainedBytes)}, {"active", fmt.Sprint(s.Active)}},
				Fix:      fix,
			}, s.Type+" slot "+s.Name+" retains WAL up to "+short, humanBytes))
		}
	}
	return out
}

func redisMemoryForecast(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		in := t.RedisInfo
		if in == nil || in.MaxMemory <= 0 {
			continue // no limit: redis_memory says to set one
		}
		f, ok := forecast(c, SeriesKey{specRedisMemory.metric, t.Name, ""}, in.UsedMemory, in.MaxMemory, "maxmemory", false)
		if !ok {
			continue
		}
		out = append(out, forecastFinding(c, f, Finding{Target: t.Name, Cluster: t.Cluster, Object: "memory",
			Evidence: []Evidence{{"used_memory", humanBytes(in.UsedMemory)}, {"maxmemory", humanBytes(in.MaxMemory)}, {"maxmemory-policy", in.MaxmemoryPolicy}},
			Fix: Fix{Kind: "setting", Text: "CONFIG SET maxmemory <larger>  (and in redis.conf), or find the keys without TTL (redis_ttl_policy)",
				Why: "at maxmemory Redis evicts keys by its policy (allkeys-lru evicts session: keys too) or, with noeviction, refuses writes"},
		}, "used memory reaches maxmemory", humanBytes))
	}
	return out
}

// usedAt is the used bytes at which a node's disk passes a watermark (the lower of its two
// forms), and whether the watermark is set.
func usedAt(d facts.NodeDisk, w facts.Watermark) (float64, bool) {
	limit, ok := 0.0, false
	if w.HasRatio && w.Ratio > 0 {
		limit, ok = w.Ratio*d.Total, true
	}
	if w.HasFreeBytes && w.FreeBytes > 0 && (!ok || d.Total-w.FreeBytes < limit) {
		limit, ok = d.Total-w.FreeBytes, true
	}
	return limit, ok
}

func esDiskForecast(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		cs := t.ClusterSettings
		if cs == nil || !cs.ThresholdEnabled {
			continue
		}
		for _, d := range t.NodeDisks {
			if d.Total <= 0 {
				continue
			}
			// the next watermark the node reaches; the ones it is past are es_disk_watermark's
			var dates []string
			var next *Forecast
			for _, w := range []struct {
				name string
				w    facts.Watermark
			}{{"low", cs.Low}, {"high", cs.High}, {"flood-stage", cs.Flood}} {
				limit, ok := usedAt(d, w.w)
				if !ok {
					continue
				}
				f, ok := forecast(c, SeriesKey{specESDiskUsed.metric, t.Name, d.Node}, d.Used, limit, w.name+" watermark ("+wmString(w.w)+")", false)
				if !ok {
					continue
				}
				dates = append(dates, w.name+" "+f.Date.UTC().Format(time.RFC3339))
				if next == nil {
					next = f
				}
			}
			if next == nil {
				continue
			}
			ev := []Evidence{{"used", fmt.Sprintf("%s of %s (%s)", humanBytes(d.Used), humanBytes(d.Total), pct(d.Used/d.Total))}}
			if len(dates) > 1 {
				ev = append(ev, Evidence{"watermark dates", strings.Join(dates, ", ")})
			}
			out = append(out, forecastFinding(c, next, Finding{Target: t.Name, Cluster: t.Cluster, Object: "node " + d.Node, Evidence: ev,
				Fix: Fix{Kind: "action", Text: "free disk on " + d.Node + " before then: shorten the visibility retention (the ILM delete phase), or add a data node or disk",
					Why: "past the low watermark no new shard (a rollover's new index included) goes to the node; past the high one shards move away; at the flood stage its indices turn read-only and visibility writes fail"},
			}, "disk of node "+d.Node+" reaches the "+next.Reaches, humanBytes))
		}
	}
	return out
}
