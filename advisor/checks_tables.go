package advisor

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
)

// primaries are the eligible targets that are primaries: physical state (bloat, dead rows) is
// the same on the replicas, and reported once.
func primaries(c *Context) []*facts.Target {
	var out []*facts.Target
	for _, t := range c.Eligible {
		if t.Role == "primary" {
			out = append(out, t)
		}
	}
	return out
}

type bloat struct{ index bool }

func (b bloat) ID() string {
	if b.index {
		return "index_bloat"
	}
	return "table_bloat"
}

func (b bloat) Title() string {
	if b.index {
		return "Bloated btree indexes (estimated from pg_stats, measured with pgstattuple)"
	}
	return "Bloated tables (estimated from pg_stats, measured with pgstattuple)"
}

func (b bloat) query() string {
	if b.index {
		return "pg_index_bloat"
	}
	return "pg_table_bloat"
}

func (b bloat) Needs() []Need { return []Need{{Query: b.query(), Roles: []string{"primary"}}} }

func (b bloat) Run(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range primaries(c) {
		list := t.TableBloat
		if b.index {
			list = t.IndexBloat
		}
		for _, x := range list {
			if x.Bytes < float64(th.BloatMinSize) {
				continue
			}
			ratio, basis := x.EstimateRatio, "estimated"
			if x.HasMeasured {
				ratio, basis = x.Measured, "measured"
			}
			if b.index {
				ratio = beyondSteadyState(ratio, x.Fillfactor, th.IndexSteadyDensity)
			}
			if ratio*x.Bytes < float64(th.BloatMinWaste) {
				continue
			}
			sev, ok := severityAt(ratio, th.BloatWarning, th.BloatCritical)
			if !ok {
				continue
			}
			measured := "not measured (pgstattuple is not installed, or the relation is not among the top candidates)"
			if x.HasMeasured {
				measured = pct(x.Measured)
			}
			f := Finding{
				Severity: sev, Target: t.Name, Object: objectName(t, x.Relation),
				Summary: fmt.Sprintf("%s is %s bloat (%s) of %s", kind(b.index), pct(ratio), basis, humanBytes(x.Bytes)),
				Evidence: []Evidence{
					{"size", humanBytes(x.Bytes)},
					{"estimated bloat", fmt.Sprintf("%s (%s)", pct(x.EstimateRatio), humanBytes(x.BloatBytes))},
					{"measured bloat", measured},
					{"database", x.Database},
				},
				size: ratio * x.Bytes,
			}
			if b.index {
				f.Summary = fmt.Sprintf("index has %s of its size (%s, %s) beyond the %s leaf density a btree settles at", pct(ratio),
					humanBytes(ratio*x.Bytes), basis, pct(th.IndexSteadyDensity))
				f.Evidence = append(f.Evidence[:2:2], Evidence{"measured bloat", measured},
					Evidence{"bloat beyond the steady state", fmt.Sprintf("%s (%s)", pct(ratio), humanBytes(ratio*x.Bytes))},
					Evidence{"fillfactor", fmt.Sprintf("%g", x.Fillfactor)}, Evidence{"database", x.Database})
			}
			if b.index {
				f.Fix = Fix{Kind: "sql", Database: x.Database, Text: "REINDEX INDEX CONCURRENTLY " + x.Qualified() + ";",
					Why: "rebuilds the index packed, without blocking reads or writes"}
			} else {
				f.Fix = Fix{Kind: "sql", Database: x.Database, Text: "VACUUM (FULL, ANALYZE, VERBOSE) " + x.Qualified() + ";",
					Why: "rewrites the table packed; it takes an ACCESS EXCLUSIVE lock for the duration, so on a busy table use pg_repack, which rebuilds it online"}
			}
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].size > out[j].size })
	return out
}

func kind(index bool) string {
	if index {
		return "index"
	}
	return "table"
}

// option returns a table's storage parameter as a number, or def.
func option(tb facts.Table, name string, def float64) float64 {
	if v, ok := tb.Options[name]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return def
}

func deadTuples(c *Context) []Finding {
	var out []Finding
	for _, t := range primaries(c) {
		set := t.Settings
		baseT := set["autovacuum_vacuum_threshold"].Value
		baseF := set["autovacuum_vacuum_scale_factor"].Value
		tables := t.Tables
		for _, tb := range tables {
			thr := option(tb, "autovacuum_vacuum_threshold", baseT)
			sf := option(tb, "autovacuum_vacuum_scale_factor", baseF)
			trigger := thr + sf*max(tb.RelTuples, tb.LiveTuples)
			if tb.DeadTuples < 1000 || tb.DeadTuples < c.Config.Thresholds.DeadTupleFactor*trigger {
				continue
			}
			last := tb.LastAutovacuum
			if tb.LastVacuum.After(last) {
				last = tb.LastVacuum
			}
			lastText := "never"
			if !last.IsZero() {
				lastText = humanDuration(c.Facts.At.Sub(last).Seconds()) + " ago"
			}
			ratio := tb.DeadTuples / max(tb.DeadTuples+tb.LiveTuples, 1)
			f := Finding{
				Severity: Warning, Target: t.Name, Object: objectName(t, tb.Relation),
				Summary: fmt.Sprintf("%.0f dead rows (%s), %.1f times what triggers autovacuum; last vacuum %s", tb.DeadTuples, pct(ratio), tb.DeadTuples/max(trigger, 1), lastText),
				Evidence: []Evidence{
					{"n_dead_tup", fmt.Sprintf("%.0f", tb.DeadTuples)}, {"n_live_tup", fmt.Sprintf("%.0f", tb.LiveTuples)},
					{"autovacuum trigger", fmt.Sprintf("%.0f + %.3g x %.0f rows = %.0f dead rows", thr, sf, max(tb.RelTuples, tb.LiveTuples), trigger)},
					{"last vacuum", lastText}, {"database", tb.Database},
				},
			}
			if tb.Options["autovacuum_enabled"] == "false" || tb.Options["autovacuum_enabled"] == "off" {
				f.Fix = Fix{Kind: "sql", Database: tb.Database, Text: "ALTER TABLE " + tb.Qualified() + " RESET (autovacuum_enabled);",
					Why: "autovacuum is switched off for this table"}
			} else {
				f.Fix = Fix{Kind: "sql", Database: tb.Database,
					Text: "VACUUM (ANALYZE, VERBOSE) " + tb.Qualified() + ";\nALTER TABLE " + tb.Qualified() + " SET (autovacuum_vacuum_scale_factor = 0.01);",
					Why:  "vacuum now, and let autovacuum start at 1% of the rows instead of waiting for " + pct(sf) + "; if it still falls behind, look for long transactions holding back cleanup"}
			}
			out = append(out, f)
		}
	}
	return out
}

// wraparoundLimit is where PostgreSQL stops assigning transaction IDs (2^31).
const wraparoundLimit = 1 << 31

func wraparound(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range primaries(c) {
		set := t.Settings
		for _, d := range t.Databases {
			for _, x := range []struct {
				what, setting string
				age           float64
			}{
				{"transaction ID", "autovacuum_freeze_max_age", d.FrozenXIDAge},
				{"multixact ID", "autovacuum_multixact_freeze_max_age", d.MinMXIDAge},
			} {
				freezeMax := set[x.setting].Value
				if freezeMax == 0 || x.age <= freezeMax {
					continue
				}
				sev := Warning
				if x.age >= th.WraparoundCritical {
					sev = Critical
				}
				out = append(out, Finding{
					Severity: sev, Target: t.Name, Object: "database:" + d.Name,
					Summary: fmt.Sprintf("oldest %s is %.0f transactions old, past %s (%.0f): %s of the way to wraparound", x.what, x.age, x.setting, freezeMax, pct(x.age/wraparoundLimit)),
					Evidence: []Evidence{
						{"age", fmt.Sprintf("%.0f", x.age)}, {x.setting, fmt.Sprintf("%.0f", freezeMax)},
						{"wraparound at", fmt.Sprintf("%d", wraparoundLimit)},
					},
					Fix: Fix{Kind: "sql", Database: d.Name, Text: "VACUUM (FREEZE, VERBOSE);",
						Why: "autovacuum's anti-wraparound vacuums are not keeping up (a long transaction or an abandoned replication slot may hold them back); at 2^31 PostgreSQL stops accepting writes"},
				})
			}
		}
	}
	return out
}

func sequences(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, t := range primaries(c) {
		seqs := t.Sequences
		for _, s := range seqs {
			if s.Cycle || s.UsedRatio < th.SequenceWarning {
				continue
			}
			sev := Warning
			if s.UsedRatio >= th.SequenceCritical {
				sev = Critical
			}
			fix := sequenceFix(s)
			out = append(out, Finding{
				Severity: sev, Target: t.Name, Object: objectName(t, s.Relation),
				Summary:  fmt.Sprintf("%s sequence has used %s of its range", s.DataType, pct(s.UsedRatio)),
				Evidence: []Evidence{{"last_value", fmt.Sprintf("%.0f", s.LastValue)}, {"used", pct(s.UsedRatio)}, {"database", s.Database}},
				Fix:      fix,
			})
		}
	}
	return out
}

// sequenceFix is what to do about a sequence running out of its range.
func sequenceFix(s facts.Sequence) Fix {
	if s.DataType == "bigint" {
		return Fix{Kind: "action", Database: s.Database, Text: "find why " + s.Qualified() + " advances so fast, or restart it on a range its values allow",
			Why: "a bigint sequence this far along is consuming values far faster than rows are kept"}
	}
	return Fix{Kind: "sql", Database: s.Database, Text: "ALTER SEQUENCE " + s.Qualified() + " AS bigint;",
		Why: "a " + s.DataType + " sequence runs out; widen it (and the columns that take its values) before nextval fails"}
}

// beyondSteadyState turns an index's bloat against a fresh build at its fillfactor (the
// share of its pages a packed index would not need) into its bloat against the density a
// btree settles at under writes: an index packed at 90 % that takes inserts in random key
// order splits its leaves down to about 70 % full and stays there, so 22 % "bloat" against
// a fresh build is its normal state, and no REINDEX keeps it off. What is beyond that (the
// empty pages a retention DELETE leaves) is waste a rebuild wins back for good.
func beyondSteadyState(ratio, fillfactor, density float64) float64 {
	if fillfactor <= 0 {
		fillfactor = 90
	}
	packed := 1 - ratio // share of the pages a build at the fillfactor needs
	steady := packed * max(1, fillfactor/100/density)
	return max(0, 1-steady)
}
