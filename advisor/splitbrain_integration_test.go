package advisor_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestSplitBrainAfterPromotion promotes a streaming replica while its primary keeps running
// and the exporter keeps scraping both: the advisor, which saw a primary and its replica
// before, must now report two primaries of one cluster.
func TestSplitBrainAfterPromotion(t *testing.T) {
	// a cluster of its own: the package's shared clusters keep their roles for other tests;
	// it stops after the runner's sources close (cleanups run last-in first-out)
	pg := testenv.StartPostgresT(t, testenv.PGOptions{Replica: true})
	r := newRunner(t, pg, "postgres", advisor.DefaultConfig())
	c := ctx(t, 3*time.Minute)

	splitBrain := func(rep *advisor.Report) []advisor.Finding {
		var out []advisor.Finding
		for _, f := range rep.Findings {
			if f.Check == "split_brain" {
				out = append(out, f)
			}
		}
		return out
	}
	roles := func(rep *advisor.Report) map[string]string {
		m := map[string]string{}
		for _, ts := range rep.Targets {
			if !ts.Up {
				t.Fatalf("target %s is down: %s", ts.Name, ts.Error)
			}
			m[ts.Name] = ts.Role + " in " + ts.Cluster
		}
		return m
	}

	rep := r.Run(c)
	before := roles(rep)
	if before["primary"] != strings.Replace(before["replica1"], "replica", "primary", 1) || !strings.HasPrefix(before["replica1"], "replica in ") {
		t.Fatalf("before the promotion: %v, want a primary and a replica in one cluster", before)
	}
	if fs := splitBrain(rep); len(fs) != 0 {
		t.Fatalf("a primary and its replica are no split brain: %+v", fs)
	}

	// the exporter goes on scraping while the replica is promoted
	stop, done := make(chan struct{}), make(chan struct{})
	var scrapes atomic.Int64
	go func() {
		defer close(done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			r.Engine.GatherAll(c, r.Targets)
			scrapes.Add(1)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	err := pg.Replica.Promote(c)
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d scrapes during the promotion", scrapes.Load())

	rep = r.Run(c)
	after := roles(rep)
	if after["replica1"] != after["primary"] || !strings.HasPrefix(after["primary"], "primary in ") {
		t.Fatalf("after the promotion: %v, want two primaries in one cluster", after)
	}
	fs := splitBrain(rep)
	if len(fs) != 1 {
		t.Fatalf("want one split_brain finding, got %+v", fs)
	}
	f := fs[0]
	if f.Severity != advisor.Critical || !strings.Contains(f.Summary, "primary") || !strings.Contains(f.Summary, "replica1") {
		t.Errorf("want a critical finding naming primary and replica1, got %+v", f)
	}
	// the replica was promoted onto a new timeline: the one left on the old is the old primary
	if f.Target != "primary" || !strings.HasPrefix(f.Fix.Text, "1. Keep replica1, promoted last (timeline 2); the old primary is primary.") {
		t.Errorf("want the fix to keep replica1 and fence primary, got target %s and fix\n%s", f.Target, f.Fix.Text)
	}
	ev := map[string]string{}
	for _, e := range f.Evidence {
		ev[e.Name] = e.Value
	}
	if ev["system identifier"] == "" || ev["system identifier"] != f.Cluster ||
		ev["primary"] != "role primary (not in recovery), timeline 1" || ev["replica1"] != "role primary (not in recovery), timeline 2" {
		t.Errorf("evidence %v (cluster %s)", f.Evidence, f.Cluster)
	}
}
