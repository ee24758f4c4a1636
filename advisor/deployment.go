package advisor

import (
	"cmp"
	"slices"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Stores are the kinds of target a report summarises, in report order, with their names for
// people. A store's id is its section under targets: in the configuration.
var Stores = []struct{ ID, Name string }{
	{queries.SourcePostgres, "PostgreSQL"},
	{queries.SourcePgbouncer, "pgbouncer"},
	{queries.SourcePgbackrest, "pgBackRest"},
	{queries.SourceRedis, "Redis"},
	{queries.SourceElasticsearch, "Elasticsearch"},
}

// storeName is a store's name for people.
func storeName(id string) string {
	for _, s := range Stores {
		if s.ID == id {
			return s.Name
		}
	}
	return id
}

// Unassigned is how people see the deployment "": targets with no cluster: in the
// configuration that belong to no PostgreSQL cluster the advisor recognised.
const Unassigned = "unassigned"

// Counts are findings by severity.
type Counts struct {
	Critical int `json:"critical"`
	Warning  int `json:"warning"`
	Info     int `json:"info"`
}

func (c *Counts) add(s Severity) {
	switch s {
	case Critical:
		c.Critical++
	case Warning:
		c.Warning++
	default:
		c.Info++
	}
}

// max is the worst severity counted, or -1 with none.
func (c Counts) max() Severity {
	switch {
	case c.Critical > 0:
		return Critical
	case c.Warning > 0:
		return Warning
	case c.Info > 0:
		return Info
	}
	return -1
}

// StoreSummary is one store's line of the report: its targets, how many answered, and their
// findings.
type StoreSummary struct {
	Store    string `json:"store"`
	Targets  int    `json:"targets"`
	Up       int    `json:"up"`
	Findings Counts `json:"findings"`
}

// Name is the store's name for people.
func (s StoreSummary) Name() string { return storeName(s.Store) }

// Deployment is one Temporal data layer: the targets that share a cluster name, and their
// findings. Name "" holds the unassigned targets.
type Deployment struct {
	Name     string   `json:"name"`
	Targets  []string `json:"targets"`
	Findings Counts   `json:"findings"`
}

// Title is the deployment's name for people.
func (d Deployment) Title() string { return cmp.Or(d.Name, Unassigned) }

// clusterOf is the name of a target's PostgreSQL cluster when the advisor recognised it (a
// configured name, or the system identifier its members share), else "". A target never
// reached and given no cluster in the configuration has a cluster of its own inside the
// advisor: that is none.
func clusterOf(s *facts.Snapshot, t *facts.Target) string {
	for _, c := range s.Clusters {
		if slices.Contains(c.Members, t) && (c.SystemID != "" || t.Cluster != "") {
			return c.Name
		}
	}
	return ""
}

// place fills in the store and deployment of the report's findings, the summary line of each
// store and the deployments, worst first. A finding takes its target's store and deployment;
// one with no target (or an unassigned one) the deployment of the cluster it names, and the
// store its check reads.
func place(r *Report, s *facts.Snapshot, checks []Check) {
	kind, deployment := map[string]string{}, map[string]string{}
	for i := range r.Targets {
		t := &r.Targets[i]
		kind[t.Name], deployment[t.Name] = t.Store, t.Deployment
	}
	checkStore := map[string]string{}
	for _, c := range checks {
		if needs := c.Needs(); len(needs) > 0 {
			checkStore[c.ID()] = needs[0].kind()
		}
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		f.Store = cmp.Or(kind[f.Target], checkStore[f.Check])
		f.Deployment = cmp.Or(deployment[f.Target], f.Cluster)
	}

	r.Stores = nil
	for _, st := range Stores {
		sum := StoreSummary{Store: st.ID}
		for _, t := range r.Targets {
			if t.Store == st.ID {
				sum.Targets++
				if t.Up {
					sum.Up++
				}
			}
		}
		for _, f := range r.Findings {
			if f.Store == st.ID {
				sum.Findings.add(f.Severity)
			}
		}
		if sum.Targets > 0 || sum.Findings != (Counts{}) {
			r.Stores = append(r.Stores, sum)
		}
	}

	byName := map[string]*Deployment{}
	var out []*Deployment
	get := func(name string) *Deployment {
		d, ok := byName[name]
		if !ok {
			d = &Deployment{Name: name, Targets: []string{}}
			byName[name] = d
			out = append(out, d)
		}
		return d
	}
	for _, t := range r.Targets {
		d := get(t.Deployment)
		d.Targets = append(d.Targets, t.Name)
	}
	for _, f := range r.Findings {
		get(f.Deployment).Findings.add(f.Severity)
	}
	// the worst first; among equals by name, the unassigned last
	slices.SortStableFunc(out, func(a, b *Deployment) int {
		return cmp.Or(
			cmp.Compare(b.Findings.max(), a.Findings.max()),
			cmp.Compare(b.Findings.Critical, a.Findings.Critical),
			cmp.Compare(b.Findings.Warning, a.Findings.Warning),
			cmpBool(a.Name == "", b.Name == ""),
			cmp.Compare(a.Name, b.Name))
	})
	r.Deployments = nil
	for _, d := range out {
		r.Deployments = append(r.Deployments, *d)
	}
}

// cmpBool orders false before true.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// DeploymentGroup is a deployment with its findings, worst first.
type DeploymentGroup struct {
	Deployment
	Items []Finding
}

// Worst is the group's worst severity.
func (g DeploymentGroup) Worst() Severity { return g.Findings.max() }

// Open reports whether a reader should see the group's findings at once: it has a warning or
// worse.
func (g DeploymentGroup) Open() bool { return g.Findings.max() >= Warning }

// ByDeployment returns the report's findings grouped by deployment, in the report's order of
// deployments; within a group the findings keep the report's order (worst first). A
// deployment without findings is left out.
func (r *Report) ByDeployment() []DeploymentGroup {
	var out []DeploymentGroup
	for _, d := range r.Deployments {
		g := DeploymentGroup{Deployment: d}
		for _, f := range r.Findings {
			if f.Deployment == d.Name {
				g.Items = append(g.Items, f)
			}
		}
		if len(g.Items) > 0 {
			out = append(out, g)
		}
	}
	return out
}
