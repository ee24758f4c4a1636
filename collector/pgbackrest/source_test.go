package pgbackrest

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/collector"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

var env testenv.Env

func TestMain(m *testing.M) { os.Exit(env.Run(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// engine runs the default pgbackrest pack on targets.
func engine(t *testing.T, targets map[string]Options) *collector.Engine {
	t.Helper()
	set, err := queries.DefaultSet()
	if err != nil {
		t.Fatal(err)
	}
	var ts []*collector.Target
	for name, o := range targets {
		src, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, &collector.Target{Name: name, Kind: queries.SourcePgbackrest, UpMetric: "pgbackrest_up",
			Source: src, Queries: set.For(queries.SourcePgbackrest), Timeout: 20 * time.Second, Parallel: 2})
	}
	e := collector.NewEngine(ts, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(e.Close)
	return e
}

func scrape(t *testing.T, e *collector.Engine, timeout time.Duration) (string, map[string]*model.Sample) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.MetricsHandler(collector.HandlerOpts{DefaultTimeout: timeout}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	out := map[string]*model.Sample{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue() + m.GetUntyped().GetValue()
			out[key] = &model.Sample{Value: model.SampleValue(v)}
		}
	}
	return text, out
}

func value(t *testing.T, s map[string]*model.Sample, key string) float64 {
	t.Helper()
	v, ok := s[key]
	if !ok {
		t.Errorf("no series %s", key)
		return -1
	}
	return float64(v.Value)
}

func TestDefaultPack(t *testing.T) {
	b := env.Pgbackrest(t)
	e := engine(t, map[string]Options{
		"backups": {Command: []string{testenv.PgbackrestBin}, Config: b.Config, Stanza: b.Stanza},
		// a stanza pgbackrest does not know: up, with its status code, and no backups
		"unknown": {Command: []string{testenv.PgbackrestBin}, Config: b.Config, Stanza: "nosuch"},
		"missing": {Command: []string{"/nonexistent/pgbackrest"}, Config: b.Config, Stanza: b.Stanza},
	})
	for _, tg := range e.Targets {
		snap := e.Gather(ctx(t), tg)
		if tg.Name == "missing" {
			if snap.Up || snap.ProbeErr == nil {
				t.Errorf("a missing pgbackrest binary is up")
			}
			continue
		}
		if !snap.Up {
			t.Fatalf("%s is down: %v", tg.Name, snap.ProbeErr)
		}
		for _, r := range snap.Results {
			if r.Err != nil {
				t.Errorf("%s: %s: %v", tg.Name, r.Query.Name, r.Err)
			}
		}
	}
	text, s := scrape(t, e, 30*time.Second)
	const lt = ",stanza=temporal,target=backups"
	if value(t, s, "pgbackrest_up,target=backups") != 1 || value(t, s, "pgbackrest_up,target=missing") != 0 {
		t.Error("pgbackrest_up wrong")
	}
	if v := value(t, s, "pgbackrest_stanza_status"+lt); v != 0 {
		t.Errorf("stanza status %v, want 0 (ok)", v)
	}
	if v := value(t, s, "pgbackrest_stanza_status,stanza=nosuch,target=unknown"); v == 0 {
		t.Errorf("an unknown stanza has status 0")
	}
	now := float64(time.Now().Unix())
	for _, typ := range []string{"full", "diff", "incr"} {
		k := ",backup_type=" + typ + lt
		if age := value(t, s, "pgbackrest_backup_since_last_completion_seconds"+k); age < 0 || age > 600 {
			t.Errorf("%s backup age %v s", typ, age)
		}
		if stop := value(t, s, "pgbackrest_backup_last_completion_timestamp_seconds"+k); stop > now || stop < now-600 {
			t.Errorf("%s backup stop %v, now %v", typ, stop, now)
		}
		if n := value(t, s, "pgbackrest_backups"+k); n != 1 {
			t.Errorf("%s backups %v, want 1", typ, n)
		}
		if value(t, s, "pgbackrest_backup_last_size_bytes"+k) <= 0 || value(t, s, "pgbackrest_backup_last_error"+k) != 0 {
			t.Errorf("%s backup size or error flag wrong", typ)
		}
	}
	// an incremental copies less than the full backup it builds on
	if value(t, s, "pgbackrest_backup_last_delta_bytes,backup_type=incr"+lt) >= value(t, s, "pgbackrest_backup_last_delta_bytes,backup_type=full"+lt) {
		t.Error("the incremental's delta is not smaller than the full backup's")
	}
	archive := ",archive_id=15-1" + lt
	if min, max := value(t, s, "pgbackrest_archive_min_wal_position_bytes"+archive), value(t, s, "pgbackrest_archive_max_wal_position_bytes"+archive); max <= min {
		t.Errorf("archive max %v <= min %v", max, min)
	}
	if value(t, s, "pgbackrest_repo_status,repo_key=1"+lt) != 0 {
		t.Error("repo status not ok")
	}
	// the stanza's system identifier is the server's
	conn, err := b.PG.Primary.Connect(ctx(t), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx(t))
	var sysid string
	if err := conn.QueryRow(ctx(t), "SELECT system_identifier::text FROM pg_control_system()").Scan(&sysid); err != nil {
		t.Fatal(err)
	}
	if value(t, s, "pgbackrest_stanza_info,pg_version=15,stanza=temporal,system_identifier="+sysid+",target=backups") != 1 {
		t.Errorf("no pgbackrest_stanza_info for system identifier %s", sysid)
	}
	testenv.CheckMetrics(t, text)
}

// TestHungRepository: a pgbackrest that hangs (a repository on a dead NFS mount, say) is
// killed at its timeout with its process group, and reads as down.
func TestHungRepository(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "pgbackrest")
	// the script stands in for pgbackrest: it answers version, then hangs in a child
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncase \"$*\" in *version*) echo 'pgBackRest 2.45'; exit 0;; esac\nsleep 61 &\nwait\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Command: []string{script}, Stanza: "x", Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Probe(ctx(t))
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("probe of a hung pgbackrest: %v", err)
	}
	// nothing of it is left running
	time.Sleep(200 * time.Millisecond)
	out, _ := exec.Command("pgrep", "-f", "sleep 61").Output()
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("the hung command's child still runs: %s", out)
	}
}
