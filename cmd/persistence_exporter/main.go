// Command persistence_exporter watches the data layer of a Temporal deployment — PostgreSQL,
// Elasticsearch, Redis and pgBackRest — and exports it to Prometheus.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

const programName = "persistence_exporter"

// DefaultListenAddress is a port none of the established exporters of these stores uses.
const DefaultListenAddress = ":9863"

// flags are the command line, parsed once in main and handed down: no package-level state.
type flags struct {
	configFile     string
	metricsPath    string
	timeoutOffset  time.Duration
	defaultTimeout time.Duration
	ttlCap         string
	format         string
	adviseTimeout  time.Duration
	connect        bool
	web            *web.FlagConfig
	log            *promslog.Config
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// terminated carries kingpin's exit code (after --help or --version) out of Parse.
type terminated int

// run is main without the process: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	app := kingpin.New(programName, "Prometheus exporter and advisor for the data layer of a Temporal deployment: PostgreSQL, Elasticsearch, Redis, pgBackRest.")
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	app.Terminate(func(c int) { panic(terminated(c)) })
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = int(t)
		}
	}()
	f := &flags{log: &promslog.Config{}}
	app.Flag("config.file", "Configuration file (targets and extra query packs).").Default("persistence_exporter.yml").StringVar(&f.configFile)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&f.metricsPath)
	app.Flag("scrape.timeout-offset", "Taken off the scrape timeout Prometheus announces (X-Prometheus-Scrape-Timeout-Seconds), so that the answer arrives in time.").Default("500ms").DurationVar(&f.timeoutOffset)
	app.Flag("scrape.default-timeout", "Scrape deadline when the request announces none.").Default("10s").DurationVar(&f.defaultTimeout)
	app.Flag("query.ttl-cap", "Cap the TTL of every query (e.g. 15s for fresher per-table statistics; 0s runs every query at every scrape). Default: the packs' TTLs.").PlaceHolder("DURATION").StringVar(&f.ttlCap)
	f.web = kingpinflag.AddFlags(app, DefaultListenAddress)
	promslogflag.AddFlags(app, f.log)
	app.Version(version.Print(programName))
	app.HelpFlag.Short('h')

	serve := app.Command("serve", "Serve metrics (the default).").Default()
	check := app.Command("check-config", "Check the configuration file and the query packs, then exit: 0 when valid, 1 otherwise (2: a bad command line).")
	check.Flag("connect", "Also have every reachable PostgreSQL target prepare each pack statement that applies to it (nothing is run): SQL errors are reported with the pack's file:line and the target.").BoolVar(&f.connect)
	advise := app.Command("advise", "Gather every target the advisor checks once, print the advisor's findings and exit: 0 when nothing is warning or worse, 1 on warnings, 2 on critical findings, 3 when the advisor could not run (a bad command line or configuration, no target the advisor checks, or no target answered).")
	advise.Flag("format", "Output format: text, json or markdown.").Default("text").EnumVar(&f.format, "text", "json", "markdown")
	advise.Flag("timeout", "Deadline for gathering and evaluating.").Default("2m").DurationVar(&f.adviseTimeout)

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v (try --help)\n", programName, err)
		if slices.Contains(args, advise.FullCommand()) {
			return 3 // advise's 1 and 2 report findings: a typo in cron must not read as critical
		}
		return 2
	}
	f.log.Writer = stderr
	switch cmd {
	case check.FullCommand():
		return checkConfig(f, stdout, stderr)
	case serve.FullCommand():
		return serveMetrics(f, stderr)
	case advise.FullCommand():
		return adviseOnce(f, stdout, stderr)
	}
	return 2
}

// buildMux wires the HTTP endpoints: metrics, probe, the advisor's report and the landing
// page. adv is nil when no target has anything to advise on.
func buildMux(f *flags, w *wiring, adv *advisor.Runner, logger *slog.Logger) (*http.ServeMux, error) {
	self := prometheus.NewRegistry()
	self.MustRegister(
		versioncollector.NewCollector(programName),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if adv != nil {
		self.MustRegister(adv.Collector())
	}
	opts := collector.HandlerOpts{
		Extra:          self,
		TimeoutOffset:  f.timeoutOffset,
		DefaultTimeout: f.defaultTimeout,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelError),
	}
	mux := http.NewServeMux()
	mux.Handle(f.metricsPath, readOnly(w.engine.MetricsHandler(opts)))
	mux.Handle("/probe", readOnly(w.engine.ProbeHandler(opts)))
	mux.Handle("/sd", readOnly(sdHandler(w)))
	if adv != nil {
		html, js := adv.Handlers()
		mux.Handle("/advisor", readOnly(html))
		mux.Handle("/advisor.json", readOnly(js))
	}
	landing, err := landingPage(f.metricsPath, w, adv != nil)
	if err != nil {
		return nil, err
	}
	mux.Handle("/", readOnly(landing))
	return mux, nil
}

// setup loads configuration and packs and builds the engine; errors are already redacted.
func setup(f *flags, logger *slog.Logger, red *secret.Redactor) (*wiring, error) {
	var ttlCap *time.Duration
	if f.ttlCap != "" {
		d, err := time.ParseDuration(f.ttlCap)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("--query.ttl-cap=%q: want a duration such as 15s or 0s", f.ttlCap)
		}
		ttlCap = &d
	}
	w, err := load(f.configFile, red, logger)
	if err != nil {
		return nil, red.Error(err)
	}
	w.engine.TTLCap = ttlCap
	return w, nil
}

// start makes the redacting logger and loads the configuration for a subcommand; on error it
// prints the errors and returns nil.
func start(f *flags, stderr io.Writer) (*wiring, *slog.Logger) {
	red := &secret.Redactor{}
	logger := slog.New(red.Handler(promslog.New(f.log).Handler()))
	w, err := setup(f, logger, red)
	if err != nil {
		printErrors(stderr, err)
		return nil, nil
	}
	return w, logger
}

func checkConfig(f *flags, stdout, stderr io.Writer) int {
	w, _ := start(f, stderr)
	if w == nil {
		return 1
	}
	defer w.engine.Close()
	if *f.web.WebConfigFile != "" {
		if err := web.Validate(*f.web.WebConfigFile); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", *f.web.WebConfigFile, err)
			return 1
		}
	}
	var (
		failed, checked int
		unreachable     []string
	)
	if f.connect {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		failed, unreachable, checked = checkSQL(ctx, w, stderr)
	}
	summary := connectSummary(f.connect, failed, checked, unreachable)
	if failed > 0 {
		fmt.Fprintf(stderr, "%s: invalid: %s\n", f.configFile, summary)
		return 1
	}
	fmt.Fprintf(stdout, "%s: valid: %s; %s\n", f.configFile, w.summary(), summary)
	return 0
}

// adviseOnce gathers once, prints the report and returns the exit code by its worst finding.
func adviseOnce(f *flags, stdout, stderr io.Writer) int {
	if os.Getenv("GOGC") == "" {
		// one gather's results and the report are the whole heap, and the process ends:
		// collecting at every doubling of it was a sixth of a run's CPU on a big catalog
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	w, _ := start(f, stderr)
	if w == nil {
		return 3
	}
	defer w.engine.Close()
	adv := w.advisorRunner()
	if adv == nil {
		fmt.Fprintf(stderr, "%s: no target of a kind the advisor checks (%s)\n", f.configFile, strings.Join(advisor.Kinds(advisor.DefaultChecks()), ", "))
		return 3
	}
	adv.Once = true
	if os.Getenv("GOMAXPROCS") == "" {
		// a gather mostly waits for its servers; a core decodes the answers of a few targets
		// at once. On one, the process's goroutines stay on one thread: half the thread
		// wake-ups, about a tenth less CPU on the bench catalog, the same wall time.
		runtime.GOMAXPROCS(min(runtime.GOMAXPROCS(0), max(1, len(adv.Targets)/4)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.adviseTimeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := adv.Run(ctx)
	write := map[string]func(io.Writer, *advisor.Report) error{
		"text": advisor.WriteText, "json": advisor.WriteJSON, "markdown": advisor.WriteMarkdown,
	}[f.format]
	if err := write(stdout, rep); err != nil {
		fmt.Fprintf(stderr, "writing the report: %v\n", w.red.Error(err))
		return 3
	}
	up := 0
	for _, t := range rep.Targets {
		if t.Up {
			up++
		} else {
			fmt.Fprintf(stderr, "target %s is down: %s\n", t.Name, t.Error)
		}
	}
	if up == 0 {
		fmt.Fprintf(stderr, "no target answered: nothing was checked\n")
		return 3
	}
	switch rep.MaxSeverity() {
	case advisor.Critical:
		return 2
	case advisor.Warning:
		return 1
	}
	return 0
}

func printErrors(out io.Writer, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(out, line)
	}
}

func serveMetrics(f *flags, stderr io.Writer) int {
	w, logger := start(f, stderr)
	if w == nil {
		return 1
	}
	defer w.engine.Close()
	logger.Info("starting "+programName, "version", version.Info(), "config", f.configFile, "targets", w.summary())

	adv := w.servedAdvisor()
	mux, err := buildMux(f, w, adv, logger)
	if err != nil {
		logger.Error("building the HTTP handlers", "err", err)
		return 1
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if adv != nil {
		go adv.Loop(ctx)
	}
	// SIGHUP would kill the process without a word: say instead that a changed configuration
	// takes a restart (the sessions, pools and result store are built once, at start)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			logger.Warn("SIGHUP ignored: the configuration is read once, at start; restart the exporter to apply a change (check it first with check-config)")
		}
	}()
	done := make(chan error, 1)
	go func() { done <- web.ListenAndServe(srv, f.web, logger) }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("HTTP server failed", "err", err)
			return 1
		}
	case <-ctx.Done():
		logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return 0
}
