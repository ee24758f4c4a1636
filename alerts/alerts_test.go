// Package alerts holds the Prometheus alerting rules (alerts/*.yml), their promtool unit
// tests (alerts/tests/*.yml) and this test, which runs promtool on both and checks what every
// rule must have. Whether the metrics the rules name exist is checked against a live scrape
// by TestDashboardsAndAlertsMatchMetrics in cmd/persistence_exporter.
package alerts

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

const (
	runbooks    = "../docs/runbooks.md"
	runbookBase = "https://github.com/persistence-exporter/persistence_exporter/blob/main/docs/runbooks.md#"
	minAlerts   = 20
)

// zeroForAllowed lists the alerts that may fire without a `for:` delay, each with the reason.
// Everything else must ride out a blip.
var zeroForAllowed = map[string]string{}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type located struct {
	file string
	rule
}

// globFiles lists the files pattern matches; none fails the test ("no " + what).
func globFiles(t *testing.T, pattern, what string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s (%v)", what, err)
	}
	return files
}

func ruleFiles(t *testing.T) []string {
	t.Helper()
	return globFiles(t, "*.yml", "rule files in alerts/")
}

func testFiles(t *testing.T) []string {
	t.Helper()
	return globFiles(t, "tests/*.yml", "unit tests in alerts/tests/")
}

// alerts reads every alerting rule of alerts/*.yml, strictly: an unknown key is an error.
func alerts(t *testing.T) []located {
	t.Helper()
	var out []located
	for _, file := range ruleFiles(t) {
		data := testenv.ReadFile(t, file)
		var doc struct {
			Groups []struct {
				Name     string `yaml:"name"`
				Interval string `yaml:"interval"`
				Rules    []rule `yaml:"rules"`
			} `yaml:"groups"`
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, g := range doc.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					out = append(out, located{file, r})
				}
			}
		}
	}
	return out
}

// promtool finds promtool (Debian's prometheus package installs it). A missing promtool fails
// the test: the rules would otherwise go untested.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH (apt-get install prometheus): %v", err)
	}
	return p
}

func run(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	run(t, append([]string{"check", "rules"}, ruleFiles(t)...)...)
}

func TestPromtoolTestRules(t *testing.T) {
	run(t, append([]string{"test", "rules"}, testFiles(t)...)...)
}

// TestRules checks what every alert must carry: a for duration, a severity an on-call
// rotation routes on, the annotations, and a runbook section that exists.
func TestRules(t *testing.T) {
	all := alerts(t)
	if len(all) < minAlerts {
		t.Errorf("%d alerts in alerts/*.yml, want at least %d", len(all), minAlerts)
	}
	anchors := runbookAnchors(t)
	seen := map[string]string{}
	for _, r := range all {
		where := r.file + " " + r.Alert
		if prev, ok := seen[r.Alert]; ok {
			t.Errorf("%s: alert name also used in %s", where, prev)
		}
		seen[r.Alert] = r.file
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr); err != nil {
			t.Errorf("%s: expr does not parse: %v", where, err)
		}
		if r.For == "" {
			t.Errorf("%s: no for: duration", where)
		} else if d, err := model.ParseDuration(r.For); err != nil {
			t.Errorf("%s: for: %q: %v", where, r.For, err)
		} else if d == 0 {
			if _, ok := zeroForAllowed[r.Alert]; !ok {
				t.Errorf("%s: for: 0 fires on a single evaluation; give it a duration, or list it in zeroForAllowed with the reason", where)
			}
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity label %q, want warning or critical", where, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", where, a)
			}
		}
		want := runbookBase + strings.ToLower(r.Alert)
		if got := r.Annotations["runbook_url"]; got != want {
			t.Errorf("%s: runbook_url %q, want %q", where, got, want)
		}
		if !anchors[strings.ToLower(r.Alert)] {
			t.Errorf("%s: %s has no heading %q", where, runbooks, r.Alert)
		}
	}
	// Every alert heading (level 3) of the runbooks is an alert: no section outlives its rule.
	for _, h := range runbookAlertHeadings(t) {
		if _, ok := seen[h]; !ok {
			t.Errorf("%s: section %q is not an alert of alerts/*.yml", runbooks, h)
		}
	}
}

var headingRe = regexp.MustCompile(`^(#{1,6})\s+(.+?)\s*#*\s*$`)

// githubAnchor is the anchor GitHub gives a heading: lowercased, punctuation other than '-'
// and '_' dropped, spaces turned into '-'.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func headings(t *testing.T) [][2]string {
	t.Helper()
	f, err := os.Open(runbooks)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]string
	fence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if m := headingRe.FindStringSubmatch(line); m != nil && !fence {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	anchors := map[string]bool{}
	for _, h := range headings(t) {
		anchors[githubAnchor(h[1])] = true
	}
	return anchors
}

func runbookAlertHeadings(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, h := range headings(t) {
		if h[0] == "###" {
			out = append(out, h[1])
		}
	}
	return out
}

// TestEveryAlertIsUnitTested wants, for every alert, a unit test case where it fires and one
// where it stays quiet, and no case for an alert that does not exist (promtool would pass an
// empty expectation for a misspelt name).
func TestEveryAlertIsUnitTested(t *testing.T) {
	type testFile struct {
		Tests []struct {
			Name           string `yaml:"name"`
			AlertRuleTests []struct {
				EvalTime  string `yaml:"eval_time"`
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels      map[string]string `yaml:"exp_labels"`
					ExpAnnotations map[string]string `yaml:"exp_annotations"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	known := map[string]located{}
	for _, r := range alerts(t) {
		known[r.Alert] = r
	}
	fires, quiet := map[string]int{}, map[string]int{}
	for _, file := range testFiles(t) {
		data := testenv.ReadFile(t, file)
		var doc testFile
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, tc := range doc.Tests {
			for _, a := range tc.AlertRuleTests {
				r, ok := known[a.Alertname]
				if !ok {
					t.Errorf("%s, test %q: alert %q is not in alerts/*.yml", file, tc.Name, a.Alertname)
					continue
				}
				if len(a.ExpAlerts) == 0 {
					quiet[a.Alertname]++
				}
				for _, e := range a.ExpAlerts {
					fires[a.Alertname]++
					if e.ExpLabels["severity"] != r.Labels["severity"] {
						t.Errorf("%s, test %q at %s: %s expected with severity %q, the rule has %q",
							file, tc.Name, a.EvalTime, a.Alertname, e.ExpLabels["severity"], r.Labels["severity"])
					}
				}
			}
		}
	}
	var names []string
	for n := range known {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if fires[n] == 0 {
			t.Errorf("%s (%s): no unit test where it fires", n, known[n].file)
		}
		if quiet[n] == 0 {
			t.Errorf("%s (%s): no unit test where it stays quiet", n, known[n].file)
		}
	}
}
