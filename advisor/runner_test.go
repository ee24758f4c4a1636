package advisor

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

func TestMetrics(t *testing.T) {
	r := &Runner{}
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || mfs[0].GetName() != "persistence_advisor_runs_total" {
		t.Errorf("before the first run, only the run counter: %v", mfs)
	}
	at := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	f := Finding{Check: "connections", Severity: Critical, Target: "p", Object: "connections"}
	r.last = &Report{GeneratedAt: at, Duration: 1.5,
		Findings: []Finding{f, f}, // the same object twice is one series
		Checks:   []CheckInfo{{ID: "connections"}, {ID: "slow_query"}},
		Skipped:  []Skip{{Check: "slow_query", Target: "p", Reason: "query pg_stat_statements_advisor did not run"}},
	}
	r.runs = 3
	mfs, err = reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	text := b.String()
	for _, want := range []string{
		`persistence_advisor_finding{check="connections",object="connections",severity="critical",target="p"} 1`,
		`persistence_advisor_findings{check="connections",severity="critical"} 2`,
		`persistence_advisor_findings{check="connections",severity="warning"} 0`,
		`persistence_advisor_findings{check="slow_query",severity="info"} 0`,
		`persistence_advisor_check_skipped{check="slow_query",target="p"} 1`,
		fmt.Sprintf("persistence_advisor_last_run_timestamp_seconds %g", float64(at.Unix())),
		`persistence_advisor_last_run_duration_seconds 1.5`,
		`persistence_advisor_runs_total 3`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("metrics lack %s\n%s", want, text)
		}
	}
	if n := strings.Count(text, "persistence_advisor_finding{"); n != 1 {
		t.Errorf("%d finding series, want 1", n)
	}
	testenv.CheckMetrics(t, text)
}
