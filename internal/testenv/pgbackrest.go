package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PgbackrestBin is Debian's pgbackrest.
const PgbackrestBin = "/usr/bin/pgbackrest"

// Pgbackrest is a PostgreSQL primary archiving into a local pgBackRest repository that holds
// a full, a differential and an incremental backup.
type Pgbackrest struct {
	Dir    string
	Config string
	Stanza string
	PG     *PGCluster
	user   serverUser
}

// Pgbackrest returns the package's pgBackRest repository, making it on first use.
func (e *Env) Pgbackrest(t testing.TB) *Pgbackrest {
	t.Helper()
	return sharedServer(e, t, "pgbackrest", func() (*Pgbackrest, error) { return StartPgbackrest(PGOptions{}) })
}

// StartPgbackrestT is StartPgbackrest for a test that needs a repository of its own: skipped
// under -short, failed when it cannot start, and stopped when the test ends.
func StartPgbackrestT(t testing.TB, opts PGOptions) *Pgbackrest {
	t.Helper()
	return startT(t, "PostgreSQL and pgBackRest", func() (*Pgbackrest, error) { return StartPgbackrest(opts) })
}

// StartPgbackrest starts a primary (and, with opts.Replica, its replica) with archive_command
// set to pgbackrest, creates the stanza and takes a full, a differential and an incremental
// backup.
func StartPgbackrest(opts PGOptions) (b *Pgbackrest, err error) {
	if _, err := exec.LookPath(PgbackrestBin); err != nil {
		return nil, fmt.Errorf("no pgbackrest (run `make deps`): %w", err)
	}
	u, dir, err := serverTempDir("pe-pgbackrest-")
	if err != nil {
		return nil, err
	}
	b = &Pgbackrest{Dir: dir, Config: filepath.Join(dir, "pgbackrest.conf"), Stanza: "temporal", user: u}
	// the named result is nil when a step fails: stop what was started through a copy
	started := b
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	for _, sub := range []string{"repo", "log", "lock", "spool"} {
		if err := u.mkdir(filepath.Join(dir, sub)); err != nil {
			return nil, err
		}
	}
	opts.Conf = append(opts.Conf, "archive_mode = on",
		fmt.Sprintf("archive_command = '%s --config=%s --stanza=%s archive-push %%p'", PgbackrestBin, b.Config, b.Stanza))
	b.PG, err = StartPostgres(opts)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`[global]
repo1-path=%s/repo
repo1-retention-full=2
log-path=%s/log
lock-path=%s/lock
spool-path=%s/spool
log-level-console=warn
log-level-file=off
start-fast=y
compress-type=none

[%s]
pg1-path=%s
pg1-port=%d
pg1-socket-path=%s
pg1-user=postgres
`, dir, dir, dir, dir, b.Stanza, b.PG.Primary.DataDir, b.PG.Primary.Port, b.PG.Dir)
	if err := os.WriteFile(b.Config, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := b.Run("stanza-create"); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, typ := range []string{"full", "diff", "incr"} {
		if i > 0 { // something to back up
			if err := b.PG.Primary.Exec(ctx, "postgres", fmt.Sprintf("CREATE TABLE backup_%s AS SELECT g FROM generate_series(1, 1000) g", typ)); err != nil {
				return nil, err
			}
		}
		if err := b.Run("--type="+typ, "backup"); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Run runs pgbackrest for the stanza, as the server user.
func (b *Pgbackrest) Run(args ...string) error {
	cmd := b.user.command(PgbackrestBin, append([]string{"--config=" + b.Config, "--stanza=" + b.Stanza}, args...)...)
	if err := runLogged(cmd); err != nil {
		return fmt.Errorf("pgbackrest %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// Stop stops the server and removes the repository.
func (b *Pgbackrest) Stop() {
	if b.PG != nil {
		b.PG.Stop()
	}
	os.RemoveAll(b.Dir)
}
