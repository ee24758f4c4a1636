package advisor

import (
	"cmp"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"
)

// WriteJSON writes the report as JSON (docs/advisor.md documents the schema). Lists are
// arrays even when empty: a client iterating over "findings" must not meet null.
func WriteJSON(w io.Writer, r *Report) error {
	c := *r
	c.Targets, c.Findings, c.Skipped, c.Checks = orEmpty(c.Targets), orEmpty(c.Findings), orEmpty(c.Skipped), orEmpty(c.Checks)
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(&c)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteText writes the report for a terminal: the summary, a line per store, then the
// findings of each deployment, the worst deployment first and the worst findings first
// within it.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "persistence_exporter advisor, %s: %s\n", r.GeneratedAt.Format(time.RFC3339), summaryLine(r))
	fmt.Fprintf(&b, "  history: %s\n", r.History.Text())
	for _, s := range r.Stores {
		fmt.Fprintf(&b, "  %-13s %s\n", s.Name(), storeLine(s))
	}
	for _, t := range r.Targets {
		if !t.Up {
			fmt.Fprintf(&b, "  target %s is down: %s\n", t.Name, t.Error)
		}
	}
	for _, g := range r.ByDeployment() {
		fmt.Fprintf(&b, "\n== deployment %s (%s): %s ==\n", g.Title(), strings.Join(g.Targets, ", "), countsText(g.Findings))
		for _, f := range g.Items {
			fmt.Fprintf(&b, "\n[%s] %s  %s  %s\n  %s\n", strings.ToUpper(f.Severity.String()), f.Check, where(f), f.Object, f.Summary)
			writeDetails(&b, f, "    ")
			fmt.Fprintf(&b, "  fix (%s)%s:\n", f.Fix.Kind, inDatabase(f.Fix))
			for _, l := range strings.Split(f.Fix.Text, "\n") {
				fmt.Fprintf(&b, "    %s\n", l)
			}
			fmt.Fprintf(&b, "  why: %s\n", f.Fix.Why)
		}
	}
	writeSkipped(&b, r, "\nskipped:\n", "  ")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the report as Markdown (for a ticket or a chat), grouped like the text.
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# persistence_exporter advisor\n\n%s, %s.\n\nHistory: %s.\n\n", r.GeneratedAt.Format(time.RFC3339), summaryLine(r), r.History.Text())
	if len(r.Stores) > 0 {
		fmt.Fprintf(&b, "| store | targets |\n|---|---|\n")
		for _, s := range r.Stores {
			fmt.Fprintf(&b, "| %s | %s |\n", s.Name(), storeLine(s))
		}
	}
	for _, g := range r.ByDeployment() {
		fmt.Fprintf(&b, "\n## Deployment %s\n\n%s: %s.\n", g.Title(), strings.Join(g.Targets, ", "), countsText(g.Findings))
		for _, f := range g.Items {
			fmt.Fprintf(&b, "\n### %s %s: `%s` (%s)\n\n%s\n\n", strings.ToUpper(f.Severity.String()), f.Check, f.Object, where(f), f.Summary)
			writeDetails(&b, f, "- ")
			fmt.Fprintf(&b, "\nFix (%s)%s — %s\n\n```sql\n%s\n```\n", f.Fix.Kind, inDatabase(f.Fix), f.Fix.Why, f.Fix.Text)
		}
	}
	writeSkipped(&b, r, "\n## Skipped\n\n", "- ")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDetails writes a finding's evidence, window and forecast, a line each after prefix.
func writeDetails(b *strings.Builder, f Finding, prefix string) {
	for _, e := range f.Evidence {
		fmt.Fprintf(b, "%s%s: %s\n", prefix, e.Name, e.Value)
	}
	if f.Window != nil {
		fmt.Fprintf(b, "%swindow: %s\n", prefix, windowText(f.Window))
	}
	if f.Forecast != nil {
		fmt.Fprintf(b, "%sforecast: %s\n", prefix, forecastText(f.Forecast))
	}
}

// writeSkipped writes the skipped checks under header, a line each after prefix; nothing when
// none was skipped.
func writeSkipped(b *strings.Builder, r *Report, header, prefix string) {
	if len(r.Skipped) == 0 {
		return
	}
	b.WriteString(header)
	for _, s := range r.Skipped {
		fmt.Fprintf(b, "%s%s on %s: %s\n", prefix, s.Check, s.Target, s.Reason)
	}
}

// storeLine is a store's summary: "3 targets, 2 up: 1 critical, 0 warning, 4 info".
func storeLine(s StoreSummary) string {
	return fmt.Sprintf("%s, %d up: %s", plural(float64(s.Targets), "target"), s.Up, countsText(s.Findings))
}

func countsText(c Counts) string {
	return fmt.Sprintf("%d critical, %d warning, %d info", c.Critical, c.Warning, c.Info)
}

func where(f Finding) string {
	if f.Cluster != "" && f.Cluster != f.Target {
		return f.Target + " (cluster " + f.Cluster + ")"
	}
	return f.Target
}

func inDatabase(f Fix) string {
	if f.Database != "" {
		return ", in database " + f.Database
	}
	return ""
}

func windowText(w *Window) string {
	src := ""
	if w.Source != "" {
		src = " [from " + w.Source + "]"
	}
	if w.From.IsZero() {
		return w.Basis + src
	}
	return fmt.Sprintf("%s to %s (%s), %s%s", w.From.Format(time.RFC3339), w.To.Format(time.RFC3339),
		humanDuration(w.To.Sub(w.From).Seconds()), w.Basis, src)
}

// forecastText is a forecast for people: the date, what is reached, and the series fitted.
func forecastText(f *Forecast) string {
	return fmt.Sprintf("%s (in %s) reaches %s; fitted on %s, %d samples from %s [from %s]",
		f.Date.UTC().Format(time.RFC3339), humanDuration(f.Seconds), f.Reaches, f.Series, f.Samples, f.From.UTC().Format(time.RFC3339), f.Source)
}

func summaryLine(r *Report) string {
	n := map[Severity]int{}
	for _, f := range r.Findings {
		n[f.Severity]++
	}
	line := fmt.Sprintf("%d critical, %d warning, %d info findings on %d targets", n[Critical], n[Warning], n[Info], len(r.Targets))
	var down []string
	for _, t := range r.Targets {
		if !t.Up {
			down = append(down, t.Name)
		}
	}
	switch {
	case len(down) > 0 && len(down) == len(r.Targets):
		// not a clean report: nothing was looked at
		line += "; no target answered, so nothing was checked"
	case len(down) > 0:
		line += fmt.Sprintf(" (%d down, not checked: %s)", len(down), strings.Join(down, ", "))
	}
	return line
}

//go:embed report.html
var templates embed.FS

var page = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"upper":    strings.ToUpper,
	"window":   windowText,
	"forecast": forecastText,
	"where":    where,
	"db":       inDatabase,
	"summary": func(r *Report) string {
		return summaryLine(r)
	},
	"store":      storeName,
	"deployment": func(name string) string { return cmp.Or(name, Unassigned) },
	"join":       strings.Join,
	"quiet": func(r *Report) []string {
		var out []string
		for _, d := range r.Deployments {
			if d.Findings == (Counts{}) {
				out = append(out, d.Title())
			}
		}
		return out
	},
}).ParseFS(templates, "report.html"))

// WriteHTML writes the report as a page readable without JavaScript.
func WriteHTML(w io.Writer, r *Report) error { return page.Execute(w, r) }

// Handlers serves /advisor (HTML) and /advisor.json from the runner's latest report.
func (r *Runner) Handlers() (html, jsonh http.Handler) {
	serve := func(write func(io.Writer, *Report) error, ctype string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rep := r.Last()
			if rep == nil {
				w.Header().Set("Retry-After", "5")
				http.Error(w, "the advisor's first run is still going; try again in a few seconds", http.StatusServiceUnavailable)
				return
			}
			w.Header().Set("Content-Type", ctype)
			_ = write(w, rep)
		})
	}
	return serve(WriteHTML, "text/html; charset=utf-8"), serve(WriteJSON, "application/json")
}
