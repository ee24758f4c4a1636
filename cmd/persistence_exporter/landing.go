package main

import (
	"html/template"
	"net/url"
	"strings"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
)

var targetsTable = template.Must(template.New("targets").Parse(`<h2>Targets</h2>
<table>
<tr><th>name</th><th>kind</th><th>address</th><th></th></tr>
{{range .}}<tr><td>{{.Name}}</td><td>{{.Kind}}</td><td>{{.Address}}</td><td><a href="probe?target={{.Name}}">probe</a></td></tr>
{{end}}</table>`))

// landingPage lists the endpoints and the targets (names and addresses, never credentials).
func landingPage(metricsPath string, w *wiring, advisor bool) (*web.LandingPageHandler, error) {
	var b strings.Builder
	if err := targetsTable.Execute(&b, w.targets); err != nil {
		return nil, err
	}
	links := []web.LandingLinks{
		{Address: metricsPath, Text: "Metrics", Description: "every target, each series labelled with target"},
	}
	if len(w.targets) > 0 {
		// a link that works: the first target (the table below links each one)
		links = append(links, web.LandingLinks{Address: "probe?target=" + url.QueryEscape(w.targets[0].Name), Text: "Probe",
			Description: "one target, here " + w.targets[0].Name + ", without the target label (multi-target pattern: probe?target=NAME)"})
	}
	links = append(links, web.LandingLinks{Address: "sd", Text: "Service discovery",
		Description: "every target for Prometheus' http_sd_configs, to shard /probe across replicas (README: Fleet)"})
	if advisor {
		links = append(links,
			web.LandingLinks{Address: "advisor", Text: "Advisor", Description: "what is wrong and how to fix it (HTML)"},
			web.LandingLinks{Address: "advisor.json", Text: "Advisor (JSON)", Description: "the same report, schema in docs/advisor.md"})
	}
	return web.NewLandingPage(web.LandingConfig{
		Name:        programName,
		Description: "Prometheus exporter and advisor for the data layer of a Temporal deployment",
		Version:     version.Info(),
		Links:       links,
		ExtraHTML:   b.String(),
		Profiling:   "false",
	})
}
