package advisor_test

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/advisor"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestBackupErrorOnRealRepository: a cluster with data checksums, one page of a table
// overwritten on disk, and a full backup: pgBackRest finds the page's checksum wrong, flags
// the backup with its error, and backup_error reports it with the backup's label.
func TestBackupErrorOnRealRepository(t *testing.T) {
	b := testenv.StartPgbackrestT(t, testenv.PGOptions{Checksums: true})
	c := ctx(t, 3*time.Minute)
	p := b.PG.Primary

	rep := backupRun(t, backupRunner(t, b, true, advisor.DefaultConfig(), b.Stanza))
	if f := has(rep, "backup_error", "stanza:temporal/full"); f != nil {
		t.Fatalf("a backup error before any corruption: %s", f.Summary)
	}

	if err := p.Exec(c, "postgres", "CREATE TABLE corrupt AS SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 2000) g",
		"CHECKPOINT"); err != nil {
		t.Fatal(err)
	}
	conn, err := p.Connect(c, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var file string
	err = conn.QueryRow(c, "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('corrupt')").Scan(&file)
	conn.Close(c)
	if err != nil {
		t.Fatal(err)
	}
	// the middle of the second page: its header (and LSN, older than the backup) stays
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xde}, 64), 8192+4096); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Run("--type=full", "backup"); err != nil {
		t.Fatalf("the backup of a corrupt page: %v", err)
	}

	rep = backupRun(t, backupRunner(t, b, true, advisor.DefaultConfig(), b.Stanza))
	f2 := has(rep, "backup_error", "stanza:temporal/full")
	if f2 == nil || f2.Severity != advisor.Critical {
		t.Fatalf("no critical backup error on the full backup:\n%s", dump(rep))
	}
	// the label (a discarded column of the pack) reaches the evidence and the summary
	label := regexp.MustCompile(`^\d{8}-\d{6}F$`)
	if len(f2.Evidence) == 0 || !label.MatchString(strings.Fields(f2.Evidence[0].Value)[0]) {
		t.Errorf("evidence lacks the backup's label: %v", f2.Evidence)
	}
	if !strings.Contains(f2.Summary, strings.Fields(f2.Evidence[0].Value)[0]) {
		t.Errorf("summary lacks the label: %s", f2.Summary)
	}
}
