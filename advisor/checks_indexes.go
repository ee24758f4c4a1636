package advisor

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
)

// objectName names a relation in findings: schema.name, with the database in front when the
// target watches several.
func objectName(t *facts.Target, r facts.Relation) string {
	if t.MultiDatabase() {
		return r.Database + ":" + r.String()
	}
	return r.String()
}

func unusedIndexes(c *Context) []Finding {
	if len(c.Facts.Unplaced()) > 0 {
		// a target that never answered may be a replica of any cluster, reading through
		// any index: no verdict until it is back (or has a configured cluster)
		return nil
	}
	var out []Finding
	for _, cl := range c.Facts.Clusters {
		p := cl.Primary()
		if p == nil {
			continue
		}
		unwatched := unwatchedStandbys(p, cl)
		// every member must have reported: an index unused on the primary may serve the
		// replicas' reads (the seed's UI reads from a replica)
		complete := true
		for _, m := range cl.Members {
			complete = complete && slices.Contains(c.Eligible, m)
		}
		if !complete {
			continue
		}
		// the primary's indexes that could be reported; the members' scans of those only
		// (a big catalog has tens of thousands of indexes, most of them small)
		type index struct{ db, schema, name string }
		var candidates []facts.Index
		scans := map[index]map[string]float64{} // -> member -> scans
		for _, ix := range p.Indexes {
			if ix.Unique || ix.Primary || ix.ConstraintBacked || !ix.Valid || ix.SizeBytes < float64(c.Config.Thresholds.UnusedIndexMinSize) {
				continue
			}
			candidates = append(candidates, ix)
			scans[index{ix.Database, ix.Schema, ix.Name}] = map[string]float64{}
		}
		if len(candidates) == 0 {
			continue
		}
		for _, m := range cl.Members {
			for _, ix := range m.Indexes {
				if byMember, ok := scans[index{ix.Database, ix.Schema, ix.Name}]; ok {
					byMember[m.Name] = ix.Scans
				}
			}
		}
		for _, ix := range candidates {
			k := index{ix.Database, ix.Schema, ix.Name}
			total, perMember := 0.0, []string{}
			for _, m := range cl.Members {
				n, ok := scans[k][m.Name]
				if !ok {
					total = -1 // a member does not have it (yet): no verdict
					break
				}
				total += n
				perMember = append(perMember, fmt.Sprintf("%s %.0f", m.Name, n))
			}
			v, ok := unusedSince(c, cl, p, ix, total)
			if !ok {
				continue
			}
			window := v.window.To.Sub(v.window.From)
			f := Finding{
				Severity: Warning, Target: p.Name, Cluster: cl.Name,
				Object:  objectName(p, ix.Relation),
				Summary: fmt.Sprintf("index on %s.%s has not been scanned in %s on the primary or any replica", ix.Schema, ix.Table, humanDuration(window.Seconds())),
				Evidence: append([]Evidence{
					{"idx_scan", strings.Join(perMember, ", ")},
					{"size", humanBytes(ix.SizeBytes)},
					{"database", ix.Database},
				}, v.evidence...),
				Window: v.window,
				Fix: Fix{Kind: "sql", Database: ix.Database, Text: "DROP INDEX CONCURRENTLY " + ix.Qualified() + ";",
					Why: "every write maintains it and it takes space and cache, but no query has used it; CONCURRENTLY does not block writes"},
				size: ix.SizeBytes,
			}
			if len(unwatched) > 0 {
				f.Severity = Info
				f.Summary = fmt.Sprintf("index on %s.%s has not been scanned in %s on the watched servers, but the primary streams to more replicas than are watched, and they may use it",
					ix.Schema, ix.Table, humanDuration(window.Seconds()))
				f.Evidence = append(f.Evidence, Evidence{"replicas streaming from the primary", fmt.Sprintf("%s (%d watched)", strings.Join(unwatched, ", "), len(cl.Members)-1)})
			}
			out = append(out, f)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].size > out[j].size })
	return out
}

// unusedVerdict is the window over which an index was not scanned, and the evidence of its
// source.
type unusedVerdict struct {
	window   *Window
	evidence []Evidence
}

// unusedSince decides whether an index of a cluster went unscanned for at least
// unused_index_min_window. First from the statistics alone: no scan on any member (total,
// -1 when a member lacks the index) since the latest statistics reset or server start, or
// since the advisor saw the index appear. Else from the past: no increase of the scan counter
// on every member over the whole window (Prometheus), which sees past a restart and past
// scans older than the window.
func unusedSince(c *Context, cl *facts.Cluster, p *facts.Target, ix facts.Index, total float64) (unusedVerdict, bool) {
	minWindow := c.Config.Thresholds.UnusedIndexMinWindow
	if total == 0 {
		// the window starts at the latest statistics reset of the database on any member
		// (or, never reset, the member's start)
		var start time.Time
		for _, m := range cl.Members {
			s := statsReset(m, ix.Database)
			if s.IsZero() {
				s = m.StartTime
			}
			if s.After(start) {
				start = s
			}
		}
		basis, source := "since the latest statistics reset or server start of the cluster's members", SourceStatistics
		if at, ok := c.Past.Appeared(IndexKey(p, ix.Relation)); ok && at.After(start) {
			start, basis, source = at, "since the advisor first saw the index", SourceMemory
		}
		if !start.IsZero() && c.Facts.At.Sub(start) >= minWindow {
			return unusedVerdict{window: &Window{From: start, To: c.Facts.At, Basis: basis, Source: source}}, true
		}
	}
	if total < 0 {
		return unusedVerdict{}, false
	}
	var w *Window
	var increases []string
	for _, m := range cl.Members {
		n, mw, ok := c.Past.IndexScans(m, ix.Relation)
		if !ok || n != 0 {
			return unusedVerdict{}, false
		}
		w = mw
		increases = append(increases, fmt.Sprintf("%s %.0f", m.Name, n))
	}
	if w == nil || w.To.Sub(w.From) < minWindow {
		return unusedVerdict{}, false
	}
	return unusedVerdict{window: w, evidence: []Evidence{{"scans in the window", strings.Join(increases, ", ")}}}, true
}

// unwatchedStandbys lists the physical standbys streaming from a primary (by
// application_name; logical walsenders do not count) when there are more of them than the
// cluster has watched replicas, and nil otherwise.
func unwatchedStandbys(p *facts.Target, cl *facts.Cluster) []string {
	logical := map[string]bool{}
	for _, s := range p.Slots {
		logical[s.Name] = s.Type == "logical"
	}
	var names []string
	for _, sb := range p.Standbys {
		if !logical[sb.Slot] {
			names = append(names, sb.Name)
		}
	}
	if extra := len(names) - (len(cl.Members) - 1); extra > 0 {
		return names
	}
	return nil
}

// statsReset is when a member's statistics of a database were last reset (zero if never).
func statsReset(t *facts.Target, db string) time.Time {
	for _, d := range t.Databases {
		if d.Name == db {
			return d.StatsReset
		}
	}
	return time.Time{}
}

// describe writes an index definition for people: btree (a, b DESC) WHERE ...
func describe(d facts.IndexDef) string {
	s := d.Method + " (" + strings.Join(d.Columns, ", ") + ")"
	if d.Expressions != "" {
		s += " expressions " + d.Expressions
	}
	if d.Predicate != "" {
		s += " WHERE " + d.Predicate
	}
	return s
}

// prefixOf reports whether the first n entries of two space-separated vectors agree.
func prefixOf(a, b string, n int) bool {
	av, bv := strings.Fields(a), strings.Fields(b)
	if len(av) < n || len(bv) < n {
		return false
	}
	return slices.Equal(av[:n], bv[:n])
}

func duplicateIndexes(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		// the sizes and scans of the indexes a finding names, indexed at the first finding:
		// most catalogs have none, and a big one has tens of thousands of indexes
		var sizes map[string]facts.Index
		sizeOf := func(d facts.IndexDef) facts.Index {
			if sizes == nil {
				sizes = make(map[string]facts.Index, len(t.Indexes))
				for _, ix := range t.Indexes {
					sizes[ix.Database+"\x00"+ix.Schema+"\x00"+ix.Name] = ix
				}
			}
			return sizes[d.Database+"\x00"+d.Schema+"\x00"+d.Name]
		}
		type table struct{ db, schema, name string }
		defs := t.IndexDefs
		byTable := make(map[table][]facts.IndexDef, len(defs)/2)
		for _, d := range defs {
			if !d.Valid || d.Exclusion {
				continue
			}
			k := table{d.Database, d.Schema, d.Table}
			byTable[k] = append(byTable[k], d)
		}
		// a pair needs two indexes on the table
		keys := make([]table, 0, len(byTable))
		for k, list := range byTable {
			if len(list) > 1 {
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b table) int {
			return cmp.Or(cmp.Compare(a.db, b.db), cmp.Compare(a.schema, b.schema), cmp.Compare(a.name, b.name))
		})
		for _, k := range keys {
			list := byTable[k]
			reported := map[string]bool{}
			slices.SortFunc(list, func(a, b facts.IndexDef) int { return cmp.Compare(a.Name, b.Name) })
			for _, a := range list {
				for _, b := range list {
					if a.Name == b.Name || reported[a.Name] || a.Method != b.Method || a.Predicate != b.Predicate || a.Expressions != b.Expressions {
						continue
					}
					n := len(a.Columns)
					identical := n == len(b.Columns) && slices.Equal(a.Columns, b.Columns) &&
						a.Options == b.Options && a.Opclasses == b.Opclasses && a.Collations == b.Collations
					covered := a.Method == "btree" && n < len(b.Columns) && slices.Equal(a.Columns, b.Columns[:n]) &&
						prefixOf(a.Options, b.Options, n) && prefixOf(a.Opclasses, b.Opclasses, n) && prefixOf(a.Collations, b.Collations, n)
					// an index that enforces something stays: a unique or constraint index is
					// not redundant to a wider non-unique one
					needed := a.Unique || a.Primary || a.ConstraintType != ""
					switch {
					case identical && needed && (b.Unique || b.Primary || b.ConstraintType != ""):
						continue // both enforce: dropping one would drop a constraint
					case identical && needed:
						continue // the other one of the pair is reported
					case identical && a.Name < b.Name && !(b.Unique || b.Primary || b.ConstraintType != ""):
						continue // of two plain duplicates, keep the first name and report the second
					case !identical && (!covered || needed):
						continue
					}
					reported[a.Name] = true
					ia, ib := sizeOf(a), sizeOf(b)
					summary := fmt.Sprintf("index duplicates %s on %s.%s", b.Name, a.Schema, a.Table)
					why := fmt.Sprintf("%s has the same definition; keeping both doubles the write and space cost", b.Name)
					if !identical {
						summary = fmt.Sprintf("index is covered by %s on %s.%s (its columns are a left prefix)", b.Name, a.Schema, a.Table)
						why = fmt.Sprintf("%s (%s) answers every query %s (%s) does", b.Name, strings.Join(b.Columns, ", "), a.Name, strings.Join(a.Columns, ", "))
					}
					out = append(out, Finding{
						Severity: Warning, Target: t.Name, Object: objectName(t, a.Relation), Summary: summary,
						Evidence: []Evidence{
							{"index", a.Name + ": " + describe(a)},
							{"covered by", b.Name + ": " + describe(b)},
							{"sizes", fmt.Sprintf("%s: %s, %s: %s", a.Name, humanBytes(ia.SizeBytes), b.Name, humanBytes(ib.SizeBytes))},
							{"scans (primary)", fmt.Sprintf("%s: %.0f, %s: %.0f", a.Name, ia.Scans, b.Name, ib.Scans)},
						},
						Fix: Fix{Kind: "sql", Database: a.Database, Text: "DROP INDEX CONCURRENTLY " + a.Qualified() + ";", Why: why},
					})
				}
			}
		}
	}
	return out
}

func invalidIndexes(c *Context) []Finding {
	var out []Finding
	for _, t := range c.Eligible {
		ixs := t.Indexes
		for _, ix := range ixs {
			if ix.Valid {
				continue
			}
			out = append(out, Finding{
				Severity: Warning, Target: t.Name, Object: objectName(t, ix.Relation),
				Summary:  fmt.Sprintf("index on %s.%s is invalid", ix.Schema, ix.Table),
				Evidence: []Evidence{{"size", humanBytes(ix.SizeBytes)}, {"database", ix.Database}},
				Fix: Fix{Kind: "sql", Database: ix.Database, Text: "REINDEX INDEX CONCURRENTLY " + ix.Qualified() + ";",
					Why: "an invalid index is updated by every write but never used by a query; rebuild it, or drop it (DROP INDEX CONCURRENTLY) if it is not wanted"},
			})
		}
	}
	return out
}

// indexTest is what the runner's hypothetical-index test needs.
type indexTest struct {
	db, createIndex, query string
}

// whereColumn finds, in statement texts that read a table, a column they filter on.
var whereRe = regexp.MustCompile(`(?i)\bwhere\b(.*)`)
var condRe = regexp.MustCompile(`(?i)(?:^|\band\b|\bor\b|\(|\s)\s*"?([a-z_][a-z0-9_]*)"?\s*(?:=|<|>|<=|>=|\bin\b|\blike\b|\bbetween\b)`)

func candidateColumn(stmts []facts.Statement, table facts.Relation) (string, string) {
	var best string
	var bestSeconds float64
	var bestText string
	tableRe := regexp.MustCompile(`(?i)\b(from|join)\s+("?` + regexp.QuoteMeta(table.Schema) + `"?\.)?"?` + regexp.QuoteMeta(table.Name) + `"?(\s|$|,|\))`)
	for _, s := range stmts {
		if s.Database != table.Database || !tableRe.MatchString(s.Text) {
			continue
		}
		m := whereRe.FindStringSubmatch(s.Text)
		if m == nil {
			continue
		}
		for _, cm := range condRe.FindAllStringSubmatch(m[1], -1) {
			col := strings.ToLower(cm[1])
			switch col {
			case "and", "or", "not", "select", "true", "false", "null":
				continue
			}
			if s.Seconds > bestSeconds {
				best, bestSeconds, bestText = col, s.Seconds, s.Text
			}
			break
		}
	}
	return best, bestText
}

func missingIndexes(c *Context) []Finding {
	th := c.Config.Thresholds
	var out []Finding
	for _, cl := range c.Facts.Clusters {
		p := cl.Primary()
		if p == nil || !slices.Contains(c.Eligible, p) {
			continue
		}
		// sequential scans add up over the cluster: reads may go to the replicas
		seq := map[string][3]float64{} // seq_scan, seq_tup_read, idx_scan
		var stmts []facts.Statement
		for _, m := range cl.Members {
			if !slices.Contains(c.Eligible, m) {
				continue
			}
			for _, tb := range m.Tables {
				k := tb.Database + "\x00" + tb.Schema + "\x00" + tb.Name
				v := seq[k]
				seq[k] = [3]float64{v[0] + tb.SeqScan, v[1] + tb.SeqTupRead, v[2] + tb.IdxScan}
			}
			stmts = append(stmts, m.Statements...)
		}
		tables := p.Tables
		for _, tb := range tables {
			v := seq[tb.Database+"\x00"+tb.Schema+"\x00"+tb.Name]
			size := tb.SizeBytes
			if !tb.HasSize {
				size = tb.RelPages * 8192
			}
			if size < float64(th.MissingIndexMinSize) || v[0] < th.MissingIndexMinSeqScans || v[0] <= v[2] {
				continue
			}
			perScan := v[1] / v[0]
			if perScan < th.MissingIndexMinRowsPerScan {
				continue
			}
			f := Finding{
				Severity: Warning, Target: p.Name, Cluster: cl.Name, Object: objectName(p, tb.Relation),
				Summary: fmt.Sprintf("table of %s read by %.0f sequential scans of %.0f rows each on average (%.0f index scans)", humanBytes(size), v[0], perScan, v[2]),
				Evidence: []Evidence{
					{"size", humanBytes(size)}, {"seq_scan", fmt.Sprintf("%.0f", v[0])},
					{"seq_tup_read", fmt.Sprintf("%.0f", v[1])}, {"idx_scan", fmt.Sprintf("%.0f", v[2])},
				},
				Window: &Window{To: c.Facts.At, Basis: "totals since the statistics were reset, summed over the cluster"},
			}
			col, text := candidateColumn(stmts, tb.Relation)
			if col == "" {
				f.Fix = Fix{Kind: "action", Database: tb.Database, Text: "find the statements that scan " + tb.Qualified() + " (pg_stat_statements) and index the columns they filter on",
					Why: "each sequential scan reads the whole table"}
			} else {
				create := fmt.Sprintf("CREATE INDEX CONCURRENTLY ON %s (%s);", tb.Qualified(), facts.QuoteIdent(col))
				f.Evidence = append(f.Evidence, Evidence{"statement", truncate(text, 300)})
				f.Fix = Fix{Kind: "sql", Database: tb.Database, Text: create,
					Why: fmt.Sprintf("the most expensive statement on the table filters on %s; CONCURRENTLY does not block writes", col)}
				f.test = &indexTest{db: tb.Database, createIndex: strings.TrimSuffix(strings.Replace(create, " CONCURRENTLY", "", 1), ";"),
					query: fmt.Sprintf("SELECT * FROM %s WHERE %s = (SELECT %s FROM %s LIMIT 1)", tb.Qualified(), facts.QuoteIdent(col), facts.QuoteIdent(col), tb.Qualified())}
			}
			out = append(out, f)
		}
	}
	return out
}
