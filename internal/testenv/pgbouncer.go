package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgbouncerBin is Debian's pgbouncer.
const PgbouncerBin = "/usr/sbin/pgbouncer"

// Pgbouncer is a running pgbouncer in front of a PostgreSQL server.
type Pgbouncer struct {
	Port int
	Dir  string
	proc *process
}

// AdminDSN is the admin console's connection string (user postgres, trust auth).
func (b *Pgbouncer) AdminDSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/pgbouncer?sslmode=disable", b.Port)
}

// DSN is a pooled connection to a database of the server behind pgbouncer.
func (b *Pgbouncer) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.Port, db)
}

// Pgbouncer returns the package's pgbouncer in front of its PostgreSQL primary, starting both
// on first use.
func (e *Env) Pgbouncer(t testing.TB) *Pgbouncer {
	t.Helper()
	pg := e.Postgres(t)
	return sharedServer(e, t, "pgbouncer", func() (*Pgbouncer, error) { return StartPgbouncer(pg.Primary) })
}

// StartPgbouncer starts pgbouncer (transaction pooling, trust auth, admin user postgres) in
// front of a server, in a new temp dir on a free port.
func StartPgbouncer(pg *PGServer) (b *Pgbouncer, err error) {
	if _, err := exec.LookPath(PgbouncerBin); err != nil {
		return nil, fmt.Errorf("no pgbouncer (run `make deps`): %w", err)
	}
	u, dir, err := serverTempDir("pe-pgbouncer-")
	if err != nil {
		return nil, err
	}
	b = &Pgbouncer{Dir: dir}
	// the named result is nil when a step fails: stop what was started through a copy
	started := b
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	if b.Port, err = FreePort(); err != nil {
		return nil, err
	}
	users := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(users, []byte(`"postgres" ""`+"\n"), 0o644); err != nil {
		return nil, err
	}
	ini := filepath.Join(dir, "pgbouncer.ini")
	conf := fmt.Sprintf(`[databases]
* = host=127.0.0.1 port=%d
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = 5
ignore_startup_parameters = extra_float_digits
`, pg.Port, b.Port, users)
	if err := os.WriteFile(ini, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chown(ini, u.uid, u.gid); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b.proc, err = startServer(ctx, "pgbouncer", u.command(PgbouncerBin, ini), filepath.Join(dir, "pgbouncer.log"), 20*time.Second, func() error {
		c, err := pgx.Connect(ctx, b.AdminDSN()+"&default_query_exec_mode=simple_protocol")
		if err != nil {
			return err
		}
		return c.Close(ctx)
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Stop stops pgbouncer and removes its directory.
func (b *Pgbouncer) Stop() {
	if b.proc != nil {
		b.proc.stop(syscall.SIGINT, 10*time.Second)
	}
	os.RemoveAll(b.Dir)
}
