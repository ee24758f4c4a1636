package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// blankPanels are the panels that may stay empty in the sandbox, each with the reason. A
// panel is named "file: row / title" (the row it sits in, "-" above the first row). A panel
// listed here that shows data fails the test too, unless mayShow says why it might: the list
// stays short and true.
var blankPanels = map[string]string{
	// version-gated: the sandbox runs PostgreSQL 15
	"postgresql.json: I/O by backend type (pg_stat_io) / Buffer hits by backend type":                "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: I/O by backend type (pg_stat_io) / Evictions, ring reuses and fsyncs":          "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: I/O by backend type (pg_stat_io) / I/O time by backend type":                   "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: I/O by backend type (pg_stat_io) / Reads by backend type":                      "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: I/O by backend type (pg_stat_io) / Shared buffer hit ratio by backend type":    "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: I/O by backend type (pg_stat_io) / Writes by backend type":                     "pg_stat_io is PostgreSQL 16+; the sandbox runs 15",
	"postgresql.json: Wraparound and sequences / Sequences near exhaustion and wraparound (advisor)": "no sequence of the seed is near exhaustion and no table near wraparound: the advisor finds nothing to show",
	// events that do not happen in the sandbox
	"elasticsearch.json: Nodes: JVM, breakers, thread pools / Circuit breaker trips": "no breaker tripped in the fixtures the replay serves (tripped is 0, and a zero counter stays 0)",
	"overview.json: Advisor / Skipped checks":                                        "every advisor check has the data it needs in the sandbox: none is skipped",
	"overview.json: Exporter / Failing queries":                                      "no query fails in the sandbox",
	"redis.json: Persistence / Last AOF write":                                       "AOF is off in the sandbox's Redis (testenv starts it with appendonly no); the panel shows servers with AOF on",
	"redis.json: Slow log and latency events / Latency events":                       "no latency event: testenv's Redis runs with latency-monitor-threshold 0 (off, Redis' default)",
	"redis.json: Slow log and latency events / Latency spikes":                       "no latency event: testenv's Redis runs with latency-monitor-threshold 0 (off, Redis' default)",
}

// mayShow are the panels of blankPanels whose event may happen in a test run after all.
var mayShow = map[string]string{
	"overview.json: Exporter / Failing queries": "a query that outlives the 2 s scrape timeout on a loaded machine (make test runs packages in parallel) counts as failed",
	"overview.json: Advisor / Skipped checks":   "a check whose query timed out on a loaded machine is skipped for that run",
}

// scrapeInterval is the sandbox Prometheus' scrape interval in check mode (startPrometheus).
const scrapeInterval = 2 * time.Second

// checkDashboards evaluates every query of every panel of dashboards/*.json against the
// sandbox's Prometheus, as Grafana would with every variable at "All" and the time range
// since Prometheus started, until every panel shows data (or a deadline passes), and fails
// on a panel that stays blank without a reason in blankPanels.
func checkDashboards(t *testing.T, ctx context.Context, prom string) {
	boards := readDashboards(t, "../../dashboards")
	client, err := api.NewClient(api.Config{Address: prom})
	if err != nil {
		t.Fatal(err)
	}
	papi := v1.NewAPI(client)
	info, err := papi.Runtimeinfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := info.StartTime.Truncate(time.Second)

	panels, targets := 0, 0
	for _, b := range boards {
		panels += len(b.panels)
		for _, p := range b.panels {
			targets += len(p.Targets)
		}
	}
	// the dashboards hold about 280 panels and 450 queries: far fewer means they are not read
	if len(boards) < 5 || panels < 200 || targets < 350 {
		t.Fatalf("read %d dashboards, %d panels, %d queries from dashboards/: want at least 5, 200 and 350", len(boards), panels, targets)
	}
	for name := range blankPanels {
		if !slices.ContainsFunc(boards, func(b board) bool { return b.has(name) }) {
			t.Errorf("blankPanels names %q, which no dashboard has", name)
		}
	}

	// poll: rate() needs two samples in its window, the advisor and slow statements need a
	// run or two; stop as soon as every panel that must show data does
	deadline := time.Now().Add(2 * time.Minute)
	var blank map[string]string
	evaluated := 0
	for {
		blank, evaluated = map[string]string{}, 0
		end := time.Now()
		for _, b := range boards {
			vars, values, err := b.resolve(ctx, papi, start, end)
			if err != nil {
				t.Fatalf("%s: %v", b.file, err)
			}
			for _, p := range b.panels {
				copies, err := p.copies(vars, values)
				if err != nil {
					t.Fatal(err)
				}
				for _, copyVars := range copies {
					name := p.name
					if p.Repeat != "" {
						name += fmt.Sprintf(" [%s=%s]", p.Repeat, copyVars[p.Repeat])
					}
					has, why, n, err := p.hasData(ctx, papi, copyVars, start, end)
					evaluated += n
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !has {
						blank[name] = why
					}
				}
			}
		}
		var unexplained []string
		for name := range blank {
			if _, ok := blankPanels[strings.Split(name, " [")[0]]; !ok {
				unexplained = append(unexplained, name)
			}
		}
		if len(unexplained) == 0 || time.Now().After(deadline) {
			break
		}
		sort.Strings(unexplained)
		if len(unexplained) > 5 {
			unexplained = append(unexplained[:5], "...")
		}
		t.Logf("%d panels blank after %s of scraping, %d of them not in blankPanels (%s); querying again",
			len(blank), time.Since(start).Round(time.Second), len(unexplained), strings.Join(unexplained, ", "))
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(scrapeInterval):
		}
	}
	t.Logf("%d dashboards, %d panels, %d queries evaluated over %s of scraping; %d panels blank",
		len(boards), panels, evaluated, time.Since(start).Round(time.Second), len(blank))
	if evaluated < targets {
		t.Errorf("evaluated %d queries, the dashboards hold %d", evaluated, targets)
	}
	var names []string
	for name := range blank {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := blankPanels[strings.Split(name, " [")[0]]; !ok {
			t.Errorf("%s shows nothing: %s", name, blank[name])
		}
	}
	for name := range mayShow {
		if _, ok := blankPanels[name]; !ok {
			t.Errorf("mayShow names %q, which is not in blankPanels", name)
		}
	}
	for name := range blankPanels {
		if _, ok := mayShow[name]; ok {
			continue
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.Split(n, " [")[0] == name }) {
			t.Errorf("%s is in blankPanels (%s) but shows data: take it off the list", name, blankPanels[name])
		}
	}
}

// board is a dashboard: its variables in order and its panels.
type board struct {
	file      string
	variables []variable
	panels    []panel
}

func (b board) has(name string) bool {
	return slices.ContainsFunc(b.panels, func(p panel) bool { return p.name == name })
}

type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	IncludeAll bool   `json:"includeAll"`
	AllValue   string `json:"allValue"`
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Repeat  string  `json:"repeat"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
		Range   bool   `json:"range"`
		Hide    bool   `json:"hide"`
	} `json:"targets"`

	name string // file: row / title
}

// readDashboards reads every dashboard of dir with its panels, rows flattened (a collapsed
// row keeps its panels inside it, an open one is followed by them).
func readDashboards(t *testing.T, dir string) []board {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []board
	for _, file := range files {
		data := testenv.ReadFile(t, file)
		var d struct {
			Panels     []panel `json:"panels"`
			Templating struct {
				List []variable `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		b := board{file: filepath.Base(file), variables: d.Templating.List}
		seen := map[string]bool{}
		row := "-"
		var add func(p panel)
		add = func(p panel) {
			if p.Type == "row" {
				row = p.Title
				for _, c := range p.Panels {
					add(c)
				}
				return
			}
			if p.Type == "text" {
				return
			}
			p.name = fmt.Sprintf("%s: %s / %s", b.file, row, p.Title)
			if seen[p.name] {
				t.Fatalf("two panels are named %s: blankPanels could not tell them apart", p.name)
			}
			seen[p.name] = true
			if len(p.Targets) == 0 {
				t.Errorf("%s has no query", p.name)
			}
			b.panels = append(b.panels, p)
		}
		for _, p := range d.Panels {
			add(p)
		}
		out = append(out, b)
	}
	return out
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(?:(.+),\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// resolve gives each query variable its values as Grafana does: label_values asked of
// Prometheus over the time range, in order (a variable may use the ones before it). vars maps
// every variable, Grafana's own too, to its text in a query with "All" selected; values lists
// each query variable's values, for repeated panels.
func (b board) resolve(ctx context.Context, papi v1.API, start, end time.Time) (vars map[string]string, values map[string][]string, err error) {
	vars, values = builtins(start, end), map[string][]string{}
	for _, v := range b.variables {
		if v.Type != "query" {
			continue
		}
		q := v.Query
		if m, ok := q.(map[string]any); ok {
			q = m["query"]
		}
		text, _ := q.(string)
		m := labelValuesRe.FindStringSubmatch(text)
		if m == nil {
			return nil, nil, fmt.Errorf("variable %s: %q is not label_values(...): teach the test its kind", v.Name, text)
		}
		var match []string
		if m[1] != "" {
			match = []string{interpolate(m[1], vars)}
		}
		got, _, _, err := papi.LabelValues(ctx, m[2], match, start, end)
		if err != nil {
			return nil, nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		if len(got) == 0 {
			return nil, nil, fmt.Errorf("variable %s: %s has no values: every panel that uses it is blank", v.Name, text)
		}
		var quoted []string
		for _, val := range got {
			quoted = append(quoted, regexp.QuoteMeta(string(val)))
			values[v.Name] = append(values[v.Name], string(val))
		}
		vars[v.Name] = "(" + strings.Join(quoted, "|") + ")"
		if v.IncludeAll && v.AllValue != "" {
			vars[v.Name] = v.AllValue
		}
	}
	return vars, values, nil
}

// builtins are Grafana's own variables for a range query from start to end on a data source
// whose scrape interval is the sandbox's: $__interval is the step (Grafana's floor is the
// scrape interval), $__rate_interval four scrape intervals (Grafana's floor for it).
func builtins(start, end time.Time) map[string]string {
	rng := end.Sub(start).Round(time.Second)
	return map[string]string{
		"__interval":      model.Duration(scrapeInterval).String(),
		"__interval_ms":   fmt.Sprint(scrapeInterval.Milliseconds()),
		"__rate_interval": model.Duration(4 * scrapeInterval).String(),
		"__range":         model.Duration(rng).String(),
		"__range_s":       fmt.Sprint(int64(rng.Seconds())),
		"__range_ms":      fmt.Sprint(rng.Milliseconds()),
	}
}

// copies are the variables of each copy of a panel: one per value of its repeat variable.
func (p panel) copies(vars map[string]string, values map[string][]string) ([]map[string]string, error) {
	if p.Repeat == "" {
		return []map[string]string{vars}, nil
	}
	if _, ok := values[p.Repeat]; !ok {
		return nil, fmt.Errorf("%s repeats over %s, which is no query variable", p.name, p.Repeat)
	}
	var out []map[string]string
	for _, val := range values[p.Repeat] {
		c := map[string]string{}
		for k, v := range vars {
			c[k] = v
		}
		c[p.Repeat] = regexp.QuoteMeta(val)
		out = append(out, c)
	}
	return out, nil
}

var varRe = regexp.MustCompile(`\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\})`)

// interpolate replaces the variables Grafana knows; anything else (label_replace's $1) stays.
func interpolate(expr string, vars map[string]string) string {
	return varRe.ReplaceAllStringFunc(expr, func(s string) string {
		m := varRe.FindStringSubmatch(s)
		name := m[1] + m[2]
		if v, ok := vars[name]; ok {
			return v
		}
		return s
	})
}

// hasData evaluates the panel's queries as Grafana would (instant, range or both) and says
// whether any returned a series, else why not; n is how many queries it evaluated. A query
// Prometheus refuses is an error.
func (p panel) hasData(ctx context.Context, papi v1.API, vars map[string]string, start, end time.Time) (has bool, why string, n int, err error) {
	var empty []string
	for _, tg := range p.Targets {
		if tg.Hide {
			continue
		}
		expr := interpolate(tg.Expr, vars)
		var results []model.Value
		if tg.Instant {
			v, _, _, err := papi.Query(ctx, expr, end)
			if err != nil {
				return false, "", n, fmt.Errorf("%s: %w", expr, err)
			}
			results = append(results, v)
		}
		if tg.Range || !tg.Instant {
			v, _, _, err := papi.QueryRange(ctx, expr, v1.Range{Start: start, End: end, Step: scrapeInterval})
			if err != nil {
				return false, "", n, fmt.Errorf("%s: %w", expr, err)
			}
			results = append(results, v)
		}
		n++
		for _, v := range results {
			switch r := v.(type) {
			case model.Vector:
				has = has || len(r) > 0
			case model.Matrix:
				has = has || len(r) > 0
			default: // a scalar or a string always shows
				has = true
			}
		}
		if !has {
			empty = append(empty, expr)
		}
	}
	if has {
		return true, "", n, nil
	}
	return false, "no series from " + strings.Join(empty, "; "), n, nil
}

// Grafana's variables are replaced, whatever their spelling; label_replace's $1 is not one.
func TestInterpolate(t *testing.T) {
	vars := builtins(time.Unix(0, 0), time.Unix(90, 0))
	vars["target"] = "(a|b)"
	got := interpolate(`label_replace(rate(x{target=~"$target", t=~"${target}", u=~"${target:regex}"}[$__rate_interval]), "le", "$1", "l", "(.*)") + $__range_s + $unknown`, vars)
	want := `label_replace(rate(x{target=~"(a|b)", t=~"(a|b)", u=~"(a|b)"}[8s]), "le", "$1", "l", "(.*)") + 90 + $unknown`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if vars["__range"] != "1m30s" {
		t.Errorf("$__range of 90 s: %s", vars["__range"])
	}
}
