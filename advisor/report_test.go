package advisor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// fixedCheck returns the findings it was given, on targets of one store.
type fixedCheck struct {
	id, kind string
	found    []advisor.Finding
}

func (c fixedCheck) ID() string                             { return c.id }
func (c fixedCheck) Title() string                          { return "test check " + c.id }
func (c fixedCheck) Needs() []advisor.Need                  { return []advisor.Need{{Kind: c.kind, Query: "q"}} }
func (c fixedCheck) Run(*advisor.Context) []advisor.Finding { return slices.Clone(c.found) }

type deployTarget struct{ name, kind, cluster, systemID string }

// deployments is two Temporal data layers and strays: "temporal" by configuration on every
// store, "billing" by configuration on its primary only (its replica joins by system
// identifier), an unnamed PostgreSQL cluster, a Redis without cluster: and a pgbouncer down.
var deploymentTargets = []deployTarget{
	{"pg1", queries.SourcePostgres, "temporal", "111"},
	{"pg1-replica", queries.SourcePostgres, "", "111"},
	{"bouncer", queries.SourcePgbouncer, "temporal", ""},
	{"stanza", queries.SourcePgbackrest, "temporal", ""},
	{"cache", queries.SourceRedis, "temporal", ""},
	{"visibility", queries.SourceElasticsearch, "temporal", ""},
	{"billing-pg", queries.SourcePostgres, "billing", "222"},
	{"billing-replica", queries.SourcePostgres, "", "222"},
	{"lonely-pg", queries.SourcePostgres, "", "333"},
	{"stray-redis", queries.SourceRedis, "", ""},
	{"dead-bouncer", queries.SourcePgbouncer, "", ""},
}

func deploymentSnapshot() *facts.Snapshot {
	var targets []*facts.Target
	for _, d := range deploymentTargets {
		t := &facts.Target{Name: d.name, Kind: d.kind, Cluster: d.cluster, SystemID: d.systemID}
		if d.name == "dead-bouncer" {
			t.Down = "connection refused"
		}
		targets = append(targets, t)
	}
	return snapshot(now, targets...)
}

// manyFindings is n findings spread over the targets, checks of every store and severities,
// one of them with a long SQL fix and a long object name.
func manyFindings(n int) []advisor.Check {
	byKind := map[string]*fixedCheck{}
	var order []string
	for i := range n {
		d := deploymentTargets[i%len(deploymentTargets)]
		if d.name == "dead-bouncer" {
			d = deploymentTargets[0]
		}
		c, ok := byKind[d.kind]
		if !ok {
			c = &fixedCheck{id: "test_" + d.kind, kind: d.kind}
			byKind[d.kind] = c
			order = append(order, d.kind)
		}
		f := advisor.Finding{Severity: advisor.Severity(i % 3), Target: d.name, Object: fmt.Sprintf("temporal.object_%d", i),
			Summary:  fmt.Sprintf("finding %d of the report", i),
			Evidence: []advisor.Evidence{{Name: "measured", Value: fmt.Sprint(i)}},
			Fix:      advisor.Fix{Kind: "sql", Text: fmt.Sprintf("SELECT %d;", i), Why: "because"}}
		if i == 7 {
			f.Object = "temporal_visibility." + strings.Repeat("very_long_index_name_", 20)
			f.Fix.Text = "CREATE INDEX CONCURRENTLY idx ON temporal_visibility.executions_visibility (" +
				strings.Repeat("namespace_id,", 150) + strings.Repeat("x", 600) + ");"
		}
		c.found = append(c.found, f)
	}
	var out []advisor.Check
	for _, k := range order {
		out = append(out, *byKind[k])
	}
	return out
}

func reportOf(t *testing.T, n int) *advisor.Report {
	t.Helper()
	cfg := advisor.DefaultConfig()
	return advisor.Evaluate(deploymentSnapshot(), manyFindings(n), &cfg, nil)
}

func TestDeployments(t *testing.T) {
	rep := reportOf(t, 30)
	deployment := map[string]string{}
	for _, ts := range rep.Targets {
		deployment[ts.Name] = ts.Deployment
	}
	for target, want := range map[string]string{
		"pg1": "temporal", "pg1-replica": "temporal", "bouncer": "temporal", "stanza": "temporal", "cache": "temporal",
		"visibility": "temporal", "billing-pg": "billing", "billing-replica": "billing",
		"lonely-pg":   "333", // a PostgreSQL cluster without a name is a deployment of its own
		"stray-redis": "", "dead-bouncer": "",
	} {
		if deployment[target] != want {
			t.Errorf("target %s in deployment %q, want %q", target, deployment[target], want)
		}
	}
	for _, f := range rep.Findings {
		if f.Deployment != deployment[f.Target] {
			t.Errorf("finding on %s in deployment %q, its target's is %q", f.Target, f.Deployment, deployment[f.Target])
		}
	}

	var names []string
	for _, d := range rep.Deployments {
		names = append(names, d.Name)
	}
	// the worst first; among equals by name; the unassigned last
	if want := []string{"temporal", "billing", "333", ""}; !slices.Equal(names, want) {
		t.Errorf("deployments %q, want %q", names, want)
	}
	for _, g := range rep.ByDeployment() {
		total := g.Findings.Critical + g.Findings.Warning + g.Findings.Info
		if len(g.Items) != total {
			t.Errorf("deployment %s: %d findings, counted %d", g.Title(), len(g.Items), total)
		}
		if !slices.IsSortedFunc(g.Items, func(a, b advisor.Finding) int { return int(b.Severity - a.Severity) }) {
			t.Errorf("deployment %s: findings not worst first", g.Title())
		}
	}

	stores := map[string]advisor.StoreSummary{}
	for _, s := range rep.Stores {
		stores[s.Store] = s
	}
	if len(rep.Stores) != 5 || rep.Stores[0].Store != queries.SourcePostgres {
		t.Errorf("stores %+v: want the five, PostgreSQL first", rep.Stores)
	}
	if b := stores[queries.SourcePgbouncer]; b.Targets != 2 || b.Up != 1 {
		t.Errorf("pgbouncer %+v: want 2 targets, 1 up", b)
	}
	sum := 0
	for _, s := range rep.Stores {
		sum += s.Findings.Critical + s.Findings.Warning + s.Findings.Info
	}
	if sum != len(rep.Findings) {
		t.Errorf("stores count %d findings of %d", sum, len(rep.Findings))
	}

	var text bytes.Buffer
	if err := advisor.WriteText(&text, rep); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{
		"  pgbouncer     2 targets, 1 up: ",
		"\n== deployment temporal (pg1, pg1-replica, bouncer, stanza, cache, visibility): ",
		"\n== deployment unassigned (stray-redis, dead-bouncer): ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "== deployment temporal") > strings.Index(out, "== deployment billing") {
		t.Error("text: temporal (with more critical findings) after billing")
	}
}

// jsonPaths lists the field paths of a JSON document ("findings[].fix.kind").
func jsonPaths(v any, prefix string, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := strings.TrimPrefix(prefix+"."+k, ".")
			into[p] = true
			jsonPaths(x, p, into)
		}
	case []any:
		for _, x := range v {
			jsonPaths(x, prefix+"[]", into)
		}
	}
}

// TestJSONSchema pins the field paths of /advisor.json's schema version 1: a field removed or
// renamed fails here, and must raise advisor.SchemaVersion (docs/advisor.md). A field added
// goes into testdata/advisor_schema_v1.txt, and into the documentation.
func TestJSONSchema(t *testing.T) {
	rep := reportOf(t, 12)
	rep.Findings[0].Window = &advisor.Window{From: now, To: now, Basis: "test", Source: advisor.SourcePrometheus}
	rep.Findings[0].Forecast = &advisor.Forecast{Date: now, Seconds: 1, Threshold: 2, Reaches: "r", Series: "s", Source: advisor.SourceMemory,
		Slope: 1, From: now, To: now, Samples: 5}
	rep.History = advisor.HistoryInfo{Source: advisor.SourceMemory, Since: now, Fallback: "prometheus: down"}
	rep.Findings[0].Cluster, rep.Findings[0].Fix.Database = "c", "temporal"
	rep.Targets[0].Role, rep.Targets[0].Version, rep.Targets[0].Error = "primary", 170000, "e"
	rep.Checks[0].Omitted = 1
	rep.Skipped = []advisor.Skip{{Check: "c", Target: "t", Reason: "r"}}
	var b bytes.Buffer
	if err := advisor.WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	jsonPaths(doc, "", seen)
	var got []string
	for p := range seen {
		got = append(got, p)
	}
	sort.Strings(got)

	golden := filepath.Join("testdata", fmt.Sprintf("advisor_schema_v%d.txt", advisor.SchemaVersion))
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v: a new schema version needs its list of field paths", err)
	}
	want := strings.Fields(string(data))
	for _, p := range want {
		if !seen[p] {
			t.Errorf("%s: field %s of schema version %d is gone: renaming or removing a field raises the version", golden, p, advisor.SchemaVersion)
		}
	}
	for _, p := range got {
		if !slices.Contains(want, p) {
			t.Errorf("field %s is not in %s: add it there and to docs/advisor.md", p, golden)
		}
	}
}

// measure is injected into a copy of the page: it writes the layout's numbers into the DOM
// for --dump-dom, first as served, then with every <details> open.
const measure = `<script>
(function () {
  var d = document.documentElement, vh = window.innerHeight;
  function m() {
    var wide = 0, hidden = 0;
    document.querySelectorAll("pre.fix, details.finding").forEach(function (e) {
      wide = Math.max(wide, e.getBoundingClientRect().right);
      hidden = Math.max(hidden, e.scrollWidth - e.clientWidth);
    });
    return {height: d.scrollHeight, scroll_width: d.scrollWidth, client_width: d.clientWidth, widest_right: wide, hidden_width: hidden};
  }
  var out = {viewport: vh,
    stores_bottom: document.getElementById("stores").getBoundingClientRect().bottom,
    first_deployment_top: document.querySelector("details.deployment").getBoundingClientRect().top,
    deployments: document.querySelectorAll("details.deployment").length,
    open_deployments: document.querySelectorAll("details.deployment[open]").length,
    findings: document.querySelectorAll("details.finding").length,
    collapsed: m()};
  document.querySelectorAll("details").forEach(function (e) { e.open = true; });
  out.expanded = m();
  var p = document.createElement("pre"); p.id = "measured"; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
})();
</script>`

type layout struct {
	Viewport           float64 `json:"viewport"`
	StoresBottom       float64 `json:"stores_bottom"`
	FirstDeploymentTop float64 `json:"first_deployment_top"`
	Deployments        int     `json:"deployments"`
	OpenDeployments    int     `json:"open_deployments"`
	Findings           int     `json:"findings"`
	Collapsed          extent  `json:"collapsed"`
	Expanded           extent  `json:"expanded"`
}

type extent struct {
	Height      float64 `json:"height"`
	ScrollWidth float64 `json:"scroll_width"`
	ClientWidth float64 `json:"client_width"`
	WidestRight float64 `json:"widest_right"`
	HiddenWidth float64 `json:"hidden_width"`
}

// TestHTMLWithManyFindings renders 100 findings over four deployments and five stores in
// headless Chromium: the store summary is in the first viewport, the deployments fold, the
// page stays bounded, and a very long fix wraps instead of widening the page.
func TestHTMLWithManyFindings(t *testing.T) {
	const width, height = 1280, 900
	rep := reportOf(t, 100)
	if len(rep.Findings) != 100 {
		t.Fatalf("%d findings", len(rep.Findings))
	}
	var page bytes.Buffer
	if err := advisor.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script") {
		t.Fatal("the page has a script: it must read without JavaScript")
	}
	dir := t.TempDir()
	plain := testenv.WriteFile(t, dir, "advisor.html", page.String())
	measured := testenv.WriteFile(t, dir, "measured.html", strings.Replace(page.String(), "</body>", measure+"</body>", 1))

	dom := string(testenv.Chromium(t, "file://"+measured, width, height, "--dump-dom"))
	m := regexp.MustCompile(`<pre id="measured">(.*?)</pre>`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no measurement in the DOM:\n%.2000s", dom)
	}
	var l layout
	if err := json.Unmarshal([]byte(strings.ReplaceAll(m[1], "&quot;", `"`)), &l); err != nil {
		t.Fatalf("%v: %s", err, m[1])
	}
	t.Logf("layout: %+v", l)
	if l.StoresBottom > l.Viewport || l.FirstDeploymentTop > l.Viewport {
		t.Errorf("the store summary (bottom %.0f) and the first deployment (top %.0f) must be in the first viewport (%.0f)",
			l.StoresBottom, l.FirstDeploymentTop, l.Viewport)
	}
	if l.Deployments != 4 || l.Findings != 100 {
		t.Errorf("%d deployments, %d findings; want 4 and 100", l.Deployments, l.Findings)
	}
	// every deployment here has a warning or worse, so each opens; its findings stay folded
	if l.OpenDeployments != l.Deployments {
		t.Errorf("%d of %d deployments open: a deployment with warnings must open", l.OpenDeployments, l.Deployments)
	}
	// folded, a finding is one line, however long its object or summary: the page grows by
	// at most 40 px a finding and 80 px a deployment
	if max := l.FirstDeploymentTop + 100*40 + 4*80; l.Collapsed.Height > max {
		t.Errorf("page %.0f px high with 100 folded findings, want at most %.0f", l.Collapsed.Height, max)
	}
	if l.Expanded.Height < 2*l.Collapsed.Height {
		t.Errorf("expanded %.0f px against folded %.0f: the findings do not fold", l.Expanded.Height, l.Collapsed.Height)
	}
	for name, e := range map[string]extent{"folded": l.Collapsed, "expanded": l.Expanded} {
		if e.ScrollWidth > e.ClientWidth || e.WidestRight > e.ClientWidth {
			t.Errorf("%s: the page overflows sideways (scroll width %.0f, widest fix ends at %.0f, window %.0f)",
				name, e.ScrollWidth, e.WidestRight, e.ClientWidth)
		}
	}
	// a long fix wraps: reading it must not take a sideways scroll inside its box either
	if l.Expanded.HiddenWidth > 0 {
		t.Errorf("a fix or finding hides %.0f px sideways", l.Expanded.HiddenWidth)
	}

	// the page as served, without JavaScript: the first viewport shows the critical marks
	img := testenv.Screenshot(t, "file://"+plain, width, height)
	if b := img.Bounds(); b.Dx() != width || b.Dy() != height {
		t.Errorf("screenshot of %v", b)
	}
	top := image.Rect(0, 0, width, int(l.StoresBottom)+1)
	if n := testenv.Pixels(img, top, color.RGBA{0xb3, 0x26, 0x1e, 0xff}); n < 20 {
		t.Errorf("the store summary paints no critical count (%d pixels of its colour)", n)
	}
	if n := testenv.Pixels(img, img.Bounds(), color.RGBA{0xb3, 0x26, 0x1e, 0xff}); n < 500 {
		t.Errorf("the first viewport shows no critical deployment (%d pixels of its colour)", n)
	}
}
