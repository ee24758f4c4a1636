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
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
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
	set, err := queries.DefaultSet(allKinds())
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
	// pgbackrest_exporter's names
	if v, ok := series(t, s, "pgbackrest_stanza_backup_lock_status", "stanza=temporal", "target=backups"); !ok || v != 0 {
		t.Errorf("pgbackrest_stanza_backup_lock_status = %v (found %v), want 0", v, ok)
	}
	if v, ok := series(t, s, "pgbackrest_wal_archive_status", "stanza=temporal", "database_id=1", "repo_key=1", "pg_version=15", "wal_min=", "wal_max="); !ok || v != 1 {
		t.Errorf("pgbackrest_wal_archive_status = %v (found %v), want 1", v, ok)
	}
	for _, typ := range []string{"full", "diff", "incr"} {
		if v, ok := series(t, s, "pgbackrest_backup_last_error_status", "stanza=temporal", "backup_type="+typ); !ok || v != 0 {
			t.Errorf("pgbackrest_backup_last_error_status{backup_type=%s} = %v (found %v), want 0", typ, v, ok)
		}
		if v, ok := series(t, s, "pgbackrest_backup_last_duration_seconds", "stanza=temporal", "backup_type="+typ); !ok || v < 0 || v > 600 {
			t.Errorf("pgbackrest_backup_last_duration_seconds{backup_type=%s} = %v (found %v)", typ, v, ok)
		}
		// one backup of each type: its series carry its label, PostgreSQL and pgBackRest versions
		if v, ok := series(t, s, "pgbackrest_backup_info", "stanza=temporal", "backup_type="+typ, "pg_version=15", "database_id=1", "repo_key=1", "block_incr=n"); !ok || v != 1 {
			t.Errorf("pgbackrest_backup_info{backup_type=%s} = %v (one series: %v)", typ, v, ok)
		}
		if v, ok := series(t, s, "pgbackrest_backup_size_bytes", "stanza=temporal", "backup_type="+typ); !ok || v <= 0 {
			t.Errorf("pgbackrest_backup_size_bytes{backup_type=%s} = %v (one series: %v)", typ, v, ok)
		}
		if v, ok := series(t, s, "pgbackrest_backup_error_status", "stanza=temporal", "backup_type="+typ); !ok || v != 0 {
			t.Errorf("pgbackrest_backup_error_status{backup_type=%s} = %v (one series: %v)", typ, v, ok)
		}
		if v, ok := series(t, s, "pgbackrest_backup_duration_seconds", "stanza=temporal", "backup_type="+typ); !ok || v < 0 || v > 600 {
			t.Errorf("pgbackrest_backup_duration_seconds{backup_type=%s} = %v (one series: %v)", typ, v, ok)
		}
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

// fakePgbackrest is a pgbackrest stand-in that answers version, and info with the JSON file.
func fakePgbackrest(t *testing.T, infoFile string) string {
	t.Helper()
	abs, err := filepath.Abs(infoFile)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "pgbackrest")
	body := "#!/bin/sh\ncase \"$*\" in\n  *' version') echo 'pgBackRest 2.45' ;;\n  *' info --output=json') cat '" + abs + "' ;;\n  *) echo \"unexpected: $*\" >&2; exit 1 ;;\nesac\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// series returns the value of the one series of name whose labels include every given
// name=value pair (an empty value matches an empty or absent label).
func series(t *testing.T, s map[string]*model.Sample, name string, labels ...string) (float64, bool) {
	t.Helper()
	var found []float64
	for key, v := range s {
		parts := strings.Split(key, ",")
		if parts[0] != name {
			continue
		}
		have := map[string]string{}
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(p, "=")
			have[k] = val
		}
		ok := true
		for _, l := range labels {
			k, val, _ := strings.Cut(l, "=")
			ok = ok && have[k] == val
		}
		if ok {
			found = append(found, float64(v.Value))
		}
	}
	if len(found) != 1 {
		return 0, false
	}
	return found[0], true
}

// TestPgbackrestExporterNames runs the default pack on a recorded-style info document (two
// repositories, a block incremental backup with a checksum error, and a full backup newer
// than the differential and incremental ones) and checks the names, labels and meaning of
// pgbackrest_exporter's series.
func TestPgbackrestExporterNames(t *testing.T) {
	e := engine(t, map[string]Options{"backups": {Command: []string{fakePgbackrest(t, "testdata/info-exporter-semantics.json")}, Stanza: "demo"}})
	snap := e.Gather(ctx(t), e.Targets[0])
	if !snap.Up {
		t.Fatalf("down: %v", snap.ProbeErr)
	}
	for _, r := range snap.Results {
		if r.Err != nil {
			t.Errorf("%s: %v", r.Query.Name, r.Err)
		}
	}
	text, s := scrape(t, e, 30*time.Second)
	const (
		f1 = "20261120-010000F"
		d1 = f1 + "_20261121-010000D"
		i1 = f1 + "_20261122-010000I"
		f2 = "20261123-010000F"
	)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"pgbackrest_stanza_backup_lock_status", []string{"stanza=demo"}, 1},
		// the WAL archive of each database history: repo 1's database 1 (PostgreSQL 13) has
		// none, the others have WAL
		{"pgbackrest_wal_archive_status", []string{"stanza=demo", "database_id=1", "repo_key=1", "pg_version=13", "wal_min=", "wal_max="}, 0},
		{"pgbackrest_wal_archive_status", []string{"stanza=demo", "database_id=2", "repo_key=1", "pg_version=15"}, 1},
		{"pgbackrest_wal_archive_status", []string{"stanza=demo", "database_id=1", "repo_key=2", "pg_version=15"}, 1},
		// the newest backup is a full one: as pgbackrest_exporter counts them it is also the
		// last diff and the last incr, so the incr's checksum error is not the last incr's
		{"pgbackrest_backup_last_error_status", []string{"stanza=demo", "backup_type=full"}, 0},
		{"pgbackrest_backup_last_error_status", []string{"stanza=demo", "backup_type=diff"}, 0},
		{"pgbackrest_backup_last_error_status", []string{"stanza=demo", "backup_type=incr"}, 0},
		{"pgbackrest_backup_last_duration_seconds", []string{"stanza=demo", "backup_type=full"}, 200},
		{"pgbackrest_backup_last_duration_seconds", []string{"stanza=demo", "backup_type=diff"}, 200},
		{"pgbackrest_backup_last_duration_seconds", []string{"stanza=demo", "backup_type=incr"}, 200},
		// ... while the newest backup of exactly each type keeps its own
		{"pgbackrest_backup_last_error", []string{"stanza=demo", "backup_type=incr"}, 1},
		// every backup kept, with its details as labels
		{"pgbackrest_backup_info", []string{"backup_name=" + f1, "backup_type=full", "backrest_ver=2.45", "block_incr=n", "database_id=2",
			"repo_key=1", "pg_version=15", "prior=", "lsn_start=0/3000028", "lsn_stop=0/3000100",
			"wal_start=000000010000000000000003", "wal_stop=000000010000000000000003", "stanza=demo"}, 1},
		{"pgbackrest_backup_info", []string{"backup_name=" + d1, "backup_type=diff", "block_incr=n", "prior=" + f1, "pg_version=15"}, 1},
		{"pgbackrest_backup_info", []string{"backup_name=" + i1, "backup_type=incr", "block_incr=y", "prior=" + d1, "pg_version=15"}, 1},
		{"pgbackrest_backup_info", []string{"backup_name=" + f2, "database_id=1", "repo_key=2", "pg_version=15"}, 1},
		{"pgbackrest_backup_size_bytes", []string{"backup_name=" + d1, "backup_type=diff", "database_id=2", "repo_key=1", "stanza=demo"}, 41000000},
		{"pgbackrest_backup_delta_bytes", []string{"backup_name=" + d1}, 3000000},
		{"pgbackrest_backup_repo_size_bytes", []string{"backup_name=" + d1}, 9500000},
		{"pgbackrest_backup_repo_delta_bytes", []string{"backup_name=" + d1}, 700000},
		{"pgbackrest_backup_repo_size_map_bytes", []string{"backup_name=" + i1}, 2048},
		{"pgbackrest_backup_repo_delta_map_bytes", []string{"backup_name=" + i1}, 512},
		{"pgbackrest_backup_error_status", []string{"backup_name=" + i1}, 1},
		{"pgbackrest_backup_error_status", []string{"backup_name=" + f2}, 0},
		{"pgbackrest_backup_duration_seconds", []string{"backup_name=" + f2, "backup_type=full", "database_id=1", "repo_key=2", "stanza=demo",
			"start_time=2026-11-23 01:00:00", "stop_time=2026-11-23 01:03:20"}, 200},
	} {
		got, ok := series(t, s, tc.name, tc.labels...)
		if !ok || got != tc.want {
			t.Errorf("%s{%s} = %v (one series: %v), want %v", tc.name, strings.Join(tc.labels, ","), got, ok, tc.want)
		}
	}
	// a block incremental backup has no backup set size (pgBackRest 2.45+), full ones no maps
	if _, ok := series(t, s, "pgbackrest_backup_repo_size_bytes", "backup_name="+i1); ok {
		t.Error("the block incremental backup has pgbackrest_backup_repo_size_bytes")
	}
	if _, ok := series(t, s, "pgbackrest_backup_repo_size_map_bytes", "backup_name="+f1); ok {
		t.Error("a full backup has pgbackrest_backup_repo_size_map_bytes")
	}
	testenv.CheckMetrics(t, text)
}

// allKinds are the source kinds of the default packs, as collector/kinds's table (which
// imports this package, so its tests cannot).
func allKinds() queries.SourceKinds {
	return queries.SourceKinds{postgres.Kind().Pack, postgres.PgbouncerKind().Pack, redis.Kind().Pack, elasticsearch.Kind().Pack, Kind().Pack}
}
