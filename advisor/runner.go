package advisor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/persistence-exporter/persistence_exporter/advisor/facts"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/promhistory"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Runner gathers the PostgreSQL targets through the engine (the same store and TTLs as the
// scrapes: the databases are asked once), evaluates the checks, and keeps the last report.
type Runner struct {
	Engine  *collector.Engine
	Targets []*collector.Target
	// Clusters maps target names to their configured cluster names.
	Clusters map[string]string
	Checks   []Check
	Config   Config
	// Tester tries hypothetical indexes for missing-index findings (nil: not tried).
	Tester  IndexTester
	History *History
	// Once marks a runner that runs once (the advise command): it keeps no history for runs
	// that will not come.
	Once bool
	// Prometheus is read for the windows and the forecasts' samples when Config.Prometheus is
	// set (nil: a client made from it at the first run); the History stays the fallback.
	Prometheus PrometheusReader
	Log        *slog.Logger
	// Redact removes secrets from error text that reaches the report (nil: none).
	Redact func(string) string

	mu   sync.Mutex
	last *Report
	runs float64
	// promErr is the last Prometheus failure logged ("" when fine), so that a Prometheus that
	// stays down is logged once, not at every run
	promErr string
}

// checks returns the checks not disabled in the configuration.
func (r *Runner) checks() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !slices.Contains(r.Config.Disable, c.ID()) {
			out = append(out, c)
		}
	}
	return out
}

// wanted returns the queries the advisor's gathers ask for: every query the facts read and
// the checks that run need, except those only disabled checks need, or needs the
// configuration turns off (Need.When). The other queries of the packs are the scrapes'.
func (r *Runner) wanted() map[string]bool {
	want := facts.Reads()
	needed := map[string]bool{}
	for _, c := range r.checks() {
		for _, n := range needs(c, &r.Config) {
			needed[n.Query], want[n.Query] = true, true
		}
	}
	for _, c := range r.Checks {
		for _, n := range c.Needs() {
			if !needed[n.Query] {
				delete(want, n.Query)
			}
		}
	}
	return want
}

// Run gathers once and evaluates the checks.
func (r *Runner) Run(ctx context.Context) *Report {
	start := time.Now()
	snaps := r.gather(ctx)
	f := facts.FromSnapshots(start, snaps, r.Clusters)
	if r.History == nil {
		r.History = NewHistory()
	}
	rep := Evaluate(f, r.checks(), &r.Config, r.past(ctx, f))
	r.enrich(ctx, rep)
	if !r.Once {
		r.History.Record(f, 2*r.Config.Thresholds.SlowQueryWindow)
		r.History.RecordSeries(f, r.Config.Thresholds.ForecastWindow)
	}
	for i := range rep.Findings {
		rep.Findings[i].test = nil
	}
	r.redact(rep)
	rep.Duration = time.Since(start).Seconds()
	r.mu.Lock()
	r.last = rep
	r.runs++
	r.mu.Unlock()
	return rep
}

// past is what the checks know of the time before the run: the in-memory history, or, with
// advisor.prometheus set, what Prometheus answered within its timeout (falling back to the
// history for what it could not give, with a warning in the log and in the report).
func (r *Runner) past(ctx context.Context, f *facts.Snapshot) Past {
	pc := r.Config.Prometheus
	if !pc.Enabled() {
		return r.History
	}
	if r.Prometheus == nil {
		c, err := promhistory.New(pc)
		if err != nil {
			err = fmt.Errorf("the advisor's Prometheus client: %w", err)
			r.logPrometheus([]string{err.Error()})
			return unavailablePast{r.History, err}
		}
		r.Prometheus = c
	}
	timeout := pc.Timeout
	if timeout <= 0 {
		timeout = promhistory.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := readPrometheus(ctx, r.Prometheus, f, &r.Config.Thresholds, r.History)
	r.logPrometheus(p.failed)
	return p
}

// logPrometheus logs what was read from memory instead of Prometheus when it changes.
func (r *Runner) logPrometheus(failed []string) {
	msg := strings.Join(failed, "; ")
	r.mu.Lock()
	changed := msg != r.promErr
	r.promErr = msg
	r.mu.Unlock()
	if !changed || r.Log == nil {
		return
	}
	if msg == "" {
		r.Log.Info("advisor: the windows come from Prometheus again")
		return
	}
	r.Log.Warn("advisor: Prometheus did not give every window; those come from the in-memory history", "reason", msg)
}

// gather gathers the targets, Config.Concurrency at a time: a run over many targets must not
// open sessions to all of them at once. Results the scrapes gathered within their TTLs come
// from the store.
func (r *Runner) gather(ctx context.Context) []*collector.Snapshot {
	n := r.Config.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	snaps := make([]*collector.Snapshot, len(r.Targets))
	want := r.wanted()
	only := func(q *queries.Query) bool { return want[q.Name] }
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, len(r.Targets)) {
		wg.Go(func() {
			for i := range next {
				snaps[i] = r.Engine.GatherOnly(ctx, r.Targets[i], only)
			}
		})
	}
	for i := range r.Targets {
		next <- i
	}
	close(next)
	wg.Wait()
	return snaps
}

// redact passes every text that may quote an error through Redact.
func (r *Runner) redact(rep *Report) {
	if r.Redact == nil {
		return
	}
	for i := range rep.Targets {
		rep.Targets[i].Error = r.Redact(rep.Targets[i].Error)
	}
	for i := range rep.Skipped {
		rep.Skipped[i].Reason = r.Redact(rep.Skipped[i].Reason)
	}
	rep.History.Fallback = r.Redact(rep.History.Fallback)
	for i := range rep.Findings {
		for j := range rep.Findings[i].Evidence {
			rep.Findings[i].Evidence[j].Value = r.Redact(rep.Findings[i].Evidence[j].Value)
		}
	}
}

// Loop runs the advisor every interval until ctx ends.
func (r *Runner) Loop(ctx context.Context) {
	interval := r.Config.Interval
	if interval <= 0 {
		interval = time.Minute
	}
	for {
		runCtx, cancel := context.WithTimeout(ctx, interval)
		rep := r.Run(runCtx)
		cancel()
		if r.Log != nil {
			r.Log.Debug("advisor run", "findings", len(rep.Findings), "duration", rep.Duration)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// Last returns the latest report, or nil before the first run.
func (r *Runner) Last() *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// enrich tries the hypothetical indexes of missing-index findings, within the budget.
func (r *Runner) enrich(ctx context.Context, rep *Report) {
	if r.Tester == nil {
		return
	}
	budget := r.Config.IndexTestBudget
	if budget <= 0 {
		budget = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	for i := range rep.Findings {
		f := &rep.Findings[i]
		if f.test == nil {
			continue
		}
		if ctx.Err() != nil {
			f.Evidence = append(f.Evidence, Evidence{"hypothetical index", "not tried: the time budget of the run was spent"})
			continue
		}
		before, after, err := r.Tester.TestIndex(ctx, f.Target, f.test.db, f.test.createIndex, f.test.query)
		if err != nil {
			f.Evidence = append(f.Evidence, Evidence{"hypothetical index", "not tried: " + err.Error()})
			continue
		}
		f.Evidence = append(f.Evidence,
			Evidence{"plan cost without the index", fmt.Sprintf("%.0f", before)},
			Evidence{"plan cost with it (hypopg)", fmt.Sprintf("%.0f", after)},
			Evidence{"probe query", f.test.query})
		if after > before/2 {
			f.Severity = Info
			f.Summary += "; a hypothetical index on the candidate column barely helps a lookup"
		}
	}
}

// Collector exports the latest report as metrics.
func (r *Runner) Collector() prometheus.Collector { return &reportCollector{r: r} }

type reportCollector struct{ r *Runner }

var (
	findingDesc = prometheus.NewDesc("persistence_advisor_finding",
		"An open advisor finding (value 1); details on /advisor.", []string{"check", "severity", "target", "object", "store", "deployment"}, nil)
	findingsDesc = prometheus.NewDesc("persistence_advisor_findings",
		"Open advisor findings by check and severity.", []string{"check", "severity"}, nil)
	storeFindingsDesc = prometheus.NewDesc("persistence_advisor_store_findings",
		"Open advisor findings by store (the kind of target) and severity.", []string{"store", "severity"}, nil)
	skippedDesc = prometheus.NewDesc("persistence_advisor_check_skipped",
		"A check that could not look at a target (value 1): a query it needs is missing; the reason is on /advisor.", []string{"check", "target"}, nil)
	lastRunDesc = prometheus.NewDesc("persistence_advisor_last_run_timestamp_seconds",
		"When the advisor last ran.", nil, nil)
	durationDesc = prometheus.NewDesc("persistence_advisor_last_run_duration_seconds",
		"How long the advisor's last run took.", nil, nil)
	runsDesc = prometheus.NewDesc("persistence_advisor_runs_total",
		"Runs of the advisor.", nil, nil)
	forecastDesc = prometheus.NewDesc("persistence_advisor_forecast_seconds",
		"Seconds from the advisor's last run until a forecast finding's date (a series reaching its threshold); details on /advisor.", []string{"check", "target", "object"}, nil)
	historyDesc = prometheus.NewDesc("persistence_advisor_history_prometheus",
		"1 when the advisor's last run read its windows and forecasts from Prometheus (advisor.prometheus), 0 when from its in-memory history.", nil, nil)
)

func (c *reportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{findingDesc, findingsDesc, storeFindingsDesc, skippedDesc, lastRunDesc, durationDesc, runsDesc, forecastDesc, historyDesc} {
		ch <- d
	}
}

func (c *reportCollector) Collect(ch chan<- prometheus.Metric) {
	c.r.mu.Lock()
	rep, runs := c.r.last, c.r.runs
	c.r.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.CounterValue, runs)
	if rep == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(lastRunDesc, prometheus.GaugeValue, float64(rep.GeneratedAt.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, rep.Duration)
	fromPrometheus := 0.0
	if rep.History.Source == SourcePrometheus {
		fromPrometheus = 1
	}
	ch <- prometheus.MustNewConstMetric(historyDesc, prometheus.GaugeValue, fromPrometheus)
	forecasts := map[[3]string]bool{}
	for _, f := range rep.Findings {
		k := [3]string{f.Check, f.Target, f.Object}
		if f.Forecast == nil || forecasts[k] {
			continue
		}
		forecasts[k] = true
		ch <- prometheus.MustNewConstMetric(forecastDesc, prometheus.GaugeValue, f.Forecast.Seconds, k[:]...)
	}
	counts := map[[2]string]float64{}
	for _, ci := range rep.Checks {
		for _, s := range []Severity{Info, Warning, Critical} {
			counts[[2]string{ci.ID, s.String()}] = 0
		}
	}
	seen := map[[6]string]bool{}
	for _, f := range rep.Findings {
		counts[[2]string{f.Check, f.Severity.String()}]++
		k := [6]string{f.Check, f.Severity.String(), f.Target, f.Object, f.Store, f.Deployment}
		if seen[k] {
			continue
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(findingDesc, prometheus.GaugeValue, 1, k[:]...)
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(findingsDesc, prometheus.GaugeValue, n, k[0], k[1])
	}
	// stores are five: a series per store and severity, 0 included, stays bounded (per
	// deployment it would grow with the configuration; count the finding series by deployment)
	for _, st := range rep.Stores {
		for _, s := range []struct {
			sev Severity
			n   int
		}{{Critical, st.Findings.Critical}, {Warning, st.Findings.Warning}, {Info, st.Findings.Info}} {
			ch <- prometheus.MustNewConstMetric(storeFindingsDesc, prometheus.GaugeValue, float64(s.n), st.Store, s.sev.String())
		}
	}
	skipped := map[[2]string]bool{}
	for _, s := range rep.Skipped {
		k := [2]string{s.Check, s.Target}
		if !skipped[k] {
			skipped[k] = true
			ch <- prometheus.MustNewConstMetric(skippedDesc, prometheus.GaugeValue, 1, k[:]...)
		}
	}
}
