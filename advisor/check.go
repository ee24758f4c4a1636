package advisor

import "github.com/persistence-exporter/persistence_exporter/advisor/facts"

// check is a check declared as a value: its ID and title, the queries it needs, and its run.
// The checks of each file are listed in a table of these (DefaultChecks and the files'
// own lists), so that what a check is and reads stands in one row beside its run function.
type check struct {
	id, title string
	needs     []Need
	run       func(c *Context) []Finding
}

func (c check) ID() string                 { return c.id }
func (c check) Title() string              { return c.title }
func (c check) Needs() []Need              { return c.needs }
func (c check) Run(ctx *Context) []Finding { return c.run(ctx) }

// eachTarget runs find on each of targets on its own; the findings get the target's name.
func eachTarget(targets []*facts.Target, find func(t *facts.Target) []Finding) []Finding {
	var out []Finding
	for _, t := range targets {
		for _, f := range find(t) {
			f.Target = t.Name
			out = append(out, f)
		}
	}
	return out
}

// atMostOne is the run of a check that looks at each eligible target on its own and finds at
// most one thing wrong with it; the finding gets the target's name.
func atMostOne(find func(c *Context, t *facts.Target) (Finding, bool)) func(c *Context) []Finding {
	return func(c *Context) []Finding {
		return eachTarget(c.Eligible, func(t *facts.Target) []Finding {
			if f, ok := find(c, t); ok {
				return []Finding{f}
			}
			return nil
		})
	}
}
