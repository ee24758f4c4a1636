// Package advisor turns the facts the collector gathered into findings: what is wrong, the
// evidence, and the fix (SQL or a setting) with why. Checks are pure functions of the facts;
// the advisor never runs DDL — the fixes are for people to run.
package advisor

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Severity ranks findings.
type Severity int

// Severities.
const (
	Info Severity = iota
	Warning
	Critical
)

func (s Severity) String() string { return [...]string{"info", "warning", "critical"}[s] }

// MarshalText writes the severity's name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a severity's name.
func (s *Severity) UnmarshalText(b []byte) error {
	for _, v := range []Severity{Info, Warning, Critical} {
		if v.String() == string(b) {
			*s = v
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q (want info, warning or critical)", b)
}

// Evidence is one number (or fact) a finding rests on.
type Evidence struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Window is the period the evidence covers.
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Basis says what the window is: "since statistics reset", "between snapshots", ...
	Basis string `json:"basis"`
	// Source is where a windowed check's window came from: prometheus, memory (the
	// advisor's own samples) or statistics (the server's totals since their reset).
	Source string `json:"source,omitempty"`
}

// Fix is what to do about a finding.
type Fix struct {
	// Kind is sql (to run by hand), setting (postgresql.conf or ALTER SYSTEM) or action.
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Database is where the SQL runs, when it matters.
	Database string `json:"database,omitempty"`
	Why      string `json:"why"`
}

// Finding is one thing wrong.
type Finding struct {
	ID       string     `json:"id"`
	Check    string     `json:"check"`
	Severity Severity   `json:"severity"`
	Target   string     `json:"target,omitempty"`
	Cluster  string     `json:"cluster,omitempty"`
	Object   string     `json:"object"`
	Summary  string     `json:"summary"`
	Evidence []Evidence `json:"evidence"`
	Window   *Window    `json:"window,omitempty"`
	Fix      Fix        `json:"fix"`
	// Forecast is the date a forecast check's series reaches its threshold, and what it was
	// fitted on (checks_forecast.go).
	Forecast *Forecast `json:"forecast,omitempty"`
	// Store is the kind of the finding's target (postgres, pgbouncer, pgbackrest, redis,
	// elasticsearch); Deployment its target's cluster: name ("" unassigned).
	Store      string `json:"store"`
	Deployment string `json:"deployment"`

	test *indexTest // a hypothetical index the runner may try
	size float64    // orders findings of equal severity within a check (larger first), when set
}

// Need is a query a check reads, on targets of one source kind (Kind, "" for PostgreSQL);
// Roles limits it to targets of those roles (nil: all).
type Need struct {
	Kind  string
	Query string
	Roles []string
	// When, if set, says whether the configuration makes the check read the query at all
	// (the disk forecasts read the databases' sizes only with pg_disk_size): when it says
	// no, the need is neither required nor gathered.
	When func(cfg *Config) bool
}

// needs are a check's needs that apply under cfg.
func needs(c Check, cfg *Config) []Need {
	all := c.Needs()
	out := all[:0:0]
	for _, n := range all {
		if n.When == nil || n.When(cfg) {
			out = append(out, n)
		}
	}
	return out
}

// kind is the source kind a need reads.
func (n Need) kind() string {
	if n.Kind == "" {
		return queries.SourcePostgres
	}
	return n.Kind
}

// Kinds are the source kinds the checks read: a target of another kind gives the advisor
// nothing to do.
func Kinds(checks []Check) []string {
	var out []string
	for _, c := range checks {
		for _, n := range c.Needs() {
			if !contains(out, n.kind()) {
				out = append(out, n.kind())
			}
		}
	}
	return out
}

// Check is one kind of finding. Run is pure: no I/O, no clock (the snapshot carries its time).
type Check interface {
	ID() string
	// Title is a short description for reports.
	Title() string
	Needs() []Need
	Run(c *Context) []Finding
}

// Context is what a check runs on.
type Context struct {
	Facts *facts.Snapshot
	// Eligible are the targets that have every result the check needs.
	Eligible []*facts.Target
	Config   *Config
	// Past is what the run knows of the time before it (past.go).
	Past Past
}

// Skip records a check that could not look at a target, and why.
type Skip struct {
	Check  string `json:"check"`
	Target string `json:"target"`
	Reason string `json:"reason"`
}

// Report is one run of the advisor.
type Report struct {
	SchemaVersion int           `json:"schema_version"`
	GeneratedAt   time.Time     `json:"generated_at"`
	Duration      float64       `json:"duration_seconds"`
	Targets       []TargetState `json:"targets"`
	Findings      []Finding     `json:"findings"`
	Skipped       []Skip        `json:"skipped"`
	Checks        []CheckInfo   `json:"checks"`
	// Stores summarise each store that has targets; Deployments group the targets and count
	// their findings, the worst deployment first.
	Stores      []StoreSummary `json:"stores"`
	Deployments []Deployment   `json:"deployments"`
	// History says where the windows and forecasts came from.
	History HistoryInfo `json:"history"`
}

// TargetState says what the advisor saw of a target.
type TargetState struct {
	Name    string `json:"name"`
	Up      bool   `json:"up"`
	Role    string `json:"role,omitempty"`
	Version int    `json:"version,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Error   string `json:"error,omitempty"`
	// Store is the target's kind; Deployment its cluster: name, or its PostgreSQL cluster's
	// ("" unassigned).
	Store      string `json:"store"`
	Deployment string `json:"deployment"`
}

// CheckInfo describes a check that ran.
type CheckInfo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Omitted counts findings beyond the configured maximum per check, left out of the report.
	Omitted int `json:"omitted,omitempty"`
}

// SchemaVersion is the version of the JSON report (docs/advisor.md).
const SchemaVersion = 1

// MaxSeverity is the highest severity of the report's findings, or -1 when there are none.
func (r *Report) MaxSeverity() Severity {
	max := Severity(-1)
	for _, f := range r.Findings {
		if f.Severity > max {
			max = f.Severity
		}
	}
	return max
}

// Evaluate runs checks on a snapshot, with what is known of the past (a *History, or the
// runner's Prometheus reads; nil: nothing). Checks whose needs a target lacks skip it, with
// the reason in the report.
func Evaluate(s *facts.Snapshot, checks []Check, cfg *Config, past Past) *Report {
	if past == nil || past == Past((*History)(nil)) {
		past = NewHistory()
	}
	r := &Report{SchemaVersion: SchemaVersion, GeneratedAt: s.At, History: past.Info()}
	for _, t := range s.Targets {
		ts := TargetState{Name: t.Name, Up: t.Up, Role: string(t.Role), Version: t.Version, Cluster: clusterOf(s, t), Store: t.Kind}
		ts.Deployment = cmp.Or(ts.Cluster, t.Cluster)
		if !t.Up {
			ts.Error = t.Down
		}
		r.Targets = append(r.Targets, ts)
	}
	for _, c := range checks {
		r.Checks = append(r.Checks, CheckInfo{ID: c.ID(), Title: c.Title()})
		ctx := &Context{Facts: s, Config: cfg, Past: past}
		for _, t := range s.Targets {
			ok, reason := eligible(t, needs(c, cfg))
			if ok {
				ctx.Eligible = append(ctx.Eligible, t)
			} else if reason != "" {
				r.Skipped = append(r.Skipped, Skip{Check: c.ID(), Target: t.Name, Reason: reason})
			}
		}
		found := c.Run(ctx)
		// the worst first; a check's own order (e.g. by size) is kept within a severity
		sort.SliceStable(found, func(i, j int) bool { return found[i].Severity > found[j].Severity })
		if n := cfg.MaxFindingsPerCheck; n > 0 && len(found) > n {
			r.Checks[len(r.Checks)-1].Omitted = len(found) - n
			found = found[:n]
		}
		for _, f := range found {
			f.Check = c.ID()
			f.ID = findingID(f)
			r.Findings = append(r.Findings, f)
		}
	}
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Target != b.Target {
			return a.Target < b.Target
		}
		return a.Check < b.Check
	})
	place(r, s, checks)
	return r
}

// eligible reports whether a target has what a check needs; reason is "" when the check
// simply does not apply (a need for another role).
func eligible(t *facts.Target, needs []Need) (bool, string) {
	if !slices.ContainsFunc(needs, func(n Need) bool { return n.kind() == t.Kind }) {
		return false, "" // a check of another store
	}
	if !t.Up {
		return false, "the target is down: " + t.Down
	}
	if t.SameAs != "" {
		return false, "the same server as target " + t.SameAs + ": its findings are reported there"
	}
	applies := false
	for _, n := range needs {
		if n.kind() != t.Kind || len(n.Roles) > 0 && !contains(n.Roles, string(t.Role)) {
			continue
		}
		applies = true
		if ok, reason := t.Available(n.Query); !ok {
			return false, reason
		}
	}
	return applies, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findingID is stable across runs for the same problem on the same object.
func findingID(f Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{f.Check, f.Target, f.Cluster, f.Object}, "\x00")))
	return hex.EncodeToString(h[:8])
}

// IndexTester tries a hypothetical index (hypopg): it explains query in database db of
// target without and with the index createIndex, and returns both plan costs. It never
// creates a real index.
type IndexTester interface {
	TestIndex(ctx context.Context, target, db, createIndex, query string) (before, after float64, err error)
}

// humanBytes writes a byte count for people.
func humanBytes(b float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", b)
	}
	return fmt.Sprintf("%.1f %s", b, units[i])
}

// humanDuration writes seconds for people.
func humanDuration(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", s*1000)
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", s)
	case d < time.Hour:
		return fmt.Sprintf("%.0f min", d.Minutes())
	case d < 48*time.Hour:
		return fmt.Sprintf("%.1f h", d.Hours())
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

func pct(r float64) string { return fmt.Sprintf("%.0f%%", r*100) }

// severityAt is the severity of a value against its warning and critical thresholds; ok is
// false below the warning one.
func severityAt(v, warning, critical float64) (sev Severity, ok bool) {
	switch {
	case v >= critical:
		return Critical, true
	case v >= warning:
		return Warning, true
	}
	return Info, false
}
