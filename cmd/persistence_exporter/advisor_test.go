package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// adviseConfig plants a redundant index and a sequence near its end in the package's cluster
// and writes a configuration with the primary, the replica and a dead target, plus extra
// advisor settings.
func adviseConfig(t *testing.T, extra string, dead bool) string {
	t.Helper()
	pg := env.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pg.Primary.Exec(ctx, "postgres",
		"CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
		"CREATE TABLE IF NOT EXISTS adv_t (a int, b int)",
		"CREATE INDEX IF NOT EXISTS adv_a ON adv_t (a)",
		"CREATE INDEX IF NOT EXISTS adv_ab ON adv_t (a, b)",
		"CREATE SEQUENCE IF NOT EXISTS adv_seq AS integer",
		"SELECT setval('adv_seq', 2100000000)",
	); err != nil {
		t.Fatal(err)
	}
	if err := pg.WaitReplayed(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`targets:
  postgres:
    - name: primary
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
    - name: replica1
      dsn: postgres://postgres:%s@127.0.0.1:%d/postgres?sslmode=disable
`, testPassword, pg.Primary.Port, testPassword, pg.Replica.Port)
	if dead {
		port, err := testenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("    - name: dead\n      dsn: postgres://exporter:%s@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2\n", testPassword, port)
	}
	return testenv.WriteFile(t, dir, "config.yml", cfg+extra)
}

func TestAdviseCLI(t *testing.T) {
	all := adviseConfig(t, "", true)
	code, out, errOut := runCLI("advise", "--config.file="+all)
	if code != 2 {
		t.Errorf("exit %d with a critical finding, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"[CRITICAL] sequence_exhaustion  primary  public.adv_seq", "ALTER SEQUENCE public.adv_seq AS bigint;",
		"\n  PostgreSQL    3 targets, 2 up: ", "\n== deployment ",
		"[WARNING] redundant_index  primary  public.adv_a", "DROP INDEX CONCURRENTLY public.adv_a;", "target dead is down"} {
		if !strings.Contains(out, want) {
			t.Errorf("the text report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "target dead is down") {
		t.Errorf("stderr does not say the dead target is down:\n%s", errOut)
	}
	if strings.Contains(out+errOut, testPassword) {
		t.Error("the report shows a password")
	}

	warn := adviseConfig(t, "advisor:\n  disable: [sequence_exhaustion]\n", false)
	code, out, errOut = runCLI("advise", "--config.file="+warn, "--format=json")
	if code != 1 {
		t.Errorf("exit %d with warnings only, want 1\n%s", code, errOut)
	}
	var rep advisor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--format=json: %v\n%s", err, out)
	}
	if rep.SchemaVersion != advisor.SchemaVersion || len(rep.Targets) != 2 || rep.MaxSeverity() != advisor.Warning {
		t.Errorf("JSON report: schema %d, %d targets, max %s", rep.SchemaVersion, len(rep.Targets), rep.MaxSeverity())
	}
	for _, tg := range rep.Targets {
		// the live target's cluster is its system identifier; the dead one's is not known
		if (tg.Name == "dead") != (tg.Cluster == "") {
			t.Errorf("target %s (up %v): cluster %q", tg.Name, tg.Up, tg.Cluster)
		}
	}

	ok := adviseConfig(t, "advisor:\n  disable: [sequence_exhaustion, redundant_index]\n", false)
	code, out, errOut = runCLI("advise", "--config.file="+ok, "--format=markdown")
	if code != 0 {
		t.Errorf("exit %d with info findings only, want 0\n%s\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "# persistence_exporter advisor") {
		t.Errorf("markdown report:\n%s", out)
	}

	// the advisor cannot run: a bad configuration, or nothing answers
	bad := testenv.WriteFile(t, t.TempDir(), "bad.yml", "advisor:\n  thresholds:\n    bloat_warning: 3\n")
	if code, _, errOut := runCLI("advise", "--config.file="+bad); code != 3 || !strings.Contains(errOut, "bad.yml:3") {
		t.Errorf("bad config: exit %d, want 3 and the line:\n%s", code, errOut)
	}
	// a typo on the command line: not the 2 of a critical finding
	if code, _, errOut := runCLI("advise", "--config.file="+bad, "--format=yaml"); code != 3 || !strings.Contains(errOut, "--help") {
		t.Errorf("bad flag: exit %d, want 3:\n%s", code, errOut)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	gone := testenv.WriteFile(t, t.TempDir(), "gone.yml", fmt.Sprintf("targets:\n  postgres:\n    - name: gone\n      dsn: postgres://x:%s@127.0.0.1:%d/x?connect_timeout=2\n", testPassword, port))
	if code, out, errOut := runCLI("advise", "--config.file="+gone); code != 3 || strings.Contains(out+errOut, testPassword) {
		t.Errorf("no target answered: exit %d, want 3 (and no password)\n%s\n%s", code, out, errOut)
	}
}

// TestAdvisorDisabled: enabled: false leaves the advisor out of serve mode.
func TestAdvisorDisabled(t *testing.T) {
	ex := startExporter(t, adviseConfig(t, "advisor:\n  enabled: false\n", false))
	if ex.adv != nil {
		t.Fatal("an advisor runs although the configuration disables it")
	}
	ex.getStatus(t, "/advisor.json", 404)
	m := ex.get(t, "/metrics")
	if strings.Contains(m, "persistence_advisor_") {
		t.Error("advisor metrics without an advisor")
	}
	// the queries that only feed the advisor are not sent; the others are
	if !strings.Contains(m, `query="pg_stat_user_tables"`) {
		t.Error("pg_stat_user_tables did not run")
	}
	for _, q := range []string{"pg_index_definitions", "pg_stat_statements_advisor"} {
		if strings.Contains(m, `query="`+q+`"`) {
			t.Errorf("%s ran without an advisor", q)
		}
	}
}

// TestAdvisorHTTP: /advisor.json, the metrics, and /advisor as Chromium renders it with
// JavaScript off.
func TestAdvisorHTTP(t *testing.T) {
	ex := startExporter(t, adviseConfig(t, "", true))
	if ex.adv == nil {
		t.Fatal("no advisor with PostgreSQL targets")
	}
	body := ex.getStatus(t, "/advisor", 503)
	if !strings.Contains(body, "first run") {
		t.Errorf("before the first run: %q", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ex.adv.Run(ctx)

	var rep advisor.Report
	if err := json.Unmarshal([]byte(ex.get(t, "/advisor.json")), &rep); err != nil {
		t.Fatal(err)
	}
	var seq *advisor.Finding
	for i, f := range rep.Findings {
		if f.Check == "sequence_exhaustion" && f.Object == "public.adv_seq" {
			seq = &rep.Findings[i]
		}
	}
	if seq == nil || seq.Severity != advisor.Critical || seq.Store != "postgres" || seq.Deployment == "" {
		t.Fatalf("no critical finding on public.adv_seq in /advisor.json, with its store and deployment: %+v", rep.Findings)
	}

	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
	for _, want := range []string{
		// the deployment is the cluster's system identifier: primary and replica have no cluster:
		fmt.Sprintf(`persistence_advisor_finding{check="sequence_exhaustion",deployment="%s",object="public.adv_seq",severity="critical",store="postgres",target="primary"} 1`, seq.Deployment),
		`persistence_advisor_store_findings{severity="critical",store="postgres"} `,
		`persistence_advisor_findings{check="redundant_index",severity="warning"} 1`,
		`persistence_advisor_runs_total 1`,
		`persistence_advisor_check_skipped{check="connections",target="dead"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !strings.Contains(ex.get(t, "/"), `advisor">Advisor</a>`) {
		t.Error("the landing page does not link the advisor")
	}

	dom, shot := chromium(t, ex.url+"/advisor")
	for _, want := range []string{
		`<table class="stores" id="stores">`,
		`<span class="sev critical">CRITICAL</span>`,
		`<span class="sev warning">WARNING</span>`,
		fmt.Sprintf(`id="finding-%s" data-check="sequence_exhaustion"`, seq.ID),
		`<pre class="fix">ALTER SEQUENCE public.adv_seq AS bigint;</pre>`,
		`<pre class="fix">DROP INDEX CONCURRENTLY public.adv_a;</pre>`,
		`down: `,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered page lacks %s", want)
		}
	}
	if strings.Contains(dom, testPassword) || strings.Contains(dom, "<script") {
		t.Error("the page shows a password or has a script")
	}
	// one deployment (primary and replica): its critical findings come first
	if strings.Index(dom, `class="sev critical"`) > strings.Index(dom, `class="sev warning"`) {
		t.Error("warnings before critical findings")
	}
	checkScreenshot(t, shot)
}

// chromium loads url in headless Chromium with JavaScript off and returns the DOM it built
// and a screenshot (the page must read without JavaScript: the test checks it has no script).
func chromium(t *testing.T, url string) (string, image.Image) {
	t.Helper()
	dom := testenv.Chromium(t, url, 1280, 1600, "--disable-javascript", "--dump-dom")
	return string(dom), testenv.Screenshot(t, url, 1280, 1600)
}

// checkScreenshot wants a page that is not blank: the severity marks paint large areas in
// their colours (critical #b3261e).
func checkScreenshot(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 600 {
		t.Errorf("screenshot of %v", b)
	}
	critical := testenv.Pixels(img, b, color.RGBA{0xb3, 0x26, 0x1e, 0xff})
	if critical < 500 {
		t.Errorf("the critical marks are not painted (%d pixels of its colour)", critical)
	}
}
