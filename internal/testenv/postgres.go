package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPGBin is where Debian's PostgreSQL 15 keeps its server binaries.
const DefaultPGBin = "/usr/lib/postgresql/15/bin"

// PGOptions configure StartPostgres.
type PGOptions struct {
	// Bin is the directory of initdb, postgres and pg_basebackup (default $PE_PG_BIN, else
	// DefaultPGBin).
	Bin string
	// Env is added to the servers' environment (LD_LIBRARY_PATH for an extracted build).
	Env []string
	// Replica also starts a streaming replica of the primary, through slot "replica1".
	Replica bool
	// Conf is appended to the primary's postgresql.conf.
	Conf []string
	// Checksums initializes the cluster with data checksums (initdb -k), so that a corrupt
	// page can be found (pgBackRest verifies them while it copies).
	Checksums bool
}

// PGServer is one running PostgreSQL server.
type PGServer struct {
	Name    string
	Port    int
	DataDir string
	logFile string
	proc    *process
	cluster *PGCluster
}

// PGCluster is a primary and, optionally, its streaming replica.
type PGCluster struct {
	Dir     string
	Bin     string
	Version int // server_version_num
	Primary *PGServer
	Replica *PGServer // nil without PGOptions.Replica
	user    serverUser
	env     []string
}

// DSN returns a connection URL for a database of s (user postgres, trust auth).
func (s *PGServer) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Connect opens a connection to a database of s (the test's own, not the exporter's).
func (s *PGServer) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.DSN(db))
}

// Exec runs SQL statements on a database of s, each in its own implicit transaction.
func (s *PGServer) Exec(ctx context.Context, db string, stmts ...string) error {
	c, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	for _, st := range stmts {
		if _, err := c.Exec(ctx, st); err != nil {
			return fmt.Errorf("%s: %w", firstLine(st), err)
		}
	}
	return nil
}

// ExecScript runs a SQL script (several statements, dollar-quoted bodies) on a database of s,
// through the simple protocol.
func (s *PGServer) ExecScript(ctx context.Context, db, script string) error {
	c, err := s.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	_, err = c.PgConn().Exec(ctx, script).ReadAll()
	return err
}

// HasLib reports whether the server build has a loadable library, e.g. "pg_cron".
func (c *PGCluster) HasLib(name string) bool { return c.hasLib(name) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// StartPostgresT is StartPostgres for a test that needs a cluster of its own: skipped under
// -short, failed when the cluster cannot start, and the cluster stopped when it ends.
func StartPostgresT(t testing.TB, opts PGOptions) *PGCluster {
	t.Helper()
	return startT(t, "PostgreSQL", func() (*PGCluster, error) { return StartPostgres(opts) })
}

// StartPostgres initialises and starts a primary (and a replica) in a new temp dir.
func StartPostgres(opts PGOptions) (c *PGCluster, err error) {
	if opts.Bin == "" {
		opts.Bin = os.Getenv("PE_PG_BIN")
	}
	if opts.Bin == "" {
		opts.Bin = DefaultPGBin
	}
	if _, err := os.Stat(filepath.Join(opts.Bin, "postgres")); err != nil {
		return nil, fmt.Errorf("no PostgreSQL server in %s (run `make deps`): %w", opts.Bin, err)
	}
	u, dir, err := serverTempDir("pe-pg-")
	if err != nil {
		return nil, err
	}
	c = &PGCluster{Dir: dir, Bin: opts.Bin, user: u, env: opts.Env}
	// the named result is nil when a step fails: stop what was started through a copy
	started := c
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	p := &PGServer{Name: "primary", DataDir: filepath.Join(dir, "primary"), logFile: filepath.Join(dir, "primary.log"), cluster: c}
	if p.Port, err = FreePort(); err != nil {
		return nil, err
	}
	initdb := []string{"-D", p.DataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"}
	if opts.Checksums {
		initdb = append(initdb, "--data-checksums")
	}
	if err := c.run("initdb", initdb...); err != nil {
		return nil, err
	}
	libs := []string{"pg_stat_statements"}
	if c.hasLib("pg_cron") {
		libs = append(libs, "pg_cron")
	}
	conf := append([]string{
		"listen_addresses = '127.0.0.1'",
		fmt.Sprintf("port = %d", p.Port),
		fmt.Sprintf("unix_socket_directories = '%s'", dir),
		fmt.Sprintf("shared_preload_libraries = '%s'", strings.Join(libs, ",")),
		"cron.database_name = 'postgres'",
		"track_io_timing = on",
		"wal_level = replica",
		"max_wal_senders = 10",
		"max_replication_slots = 10",
		"wal_keep_size = '64MB'",
		"hot_standby = on",
		"shared_buffers = '32MB'",
		// test data only: no durability needed, and JIT libraries may be missing
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"jit = off",
		"logging_collector = off",
	}, opts.Conf...)
	if err := appendLines(filepath.Join(p.DataDir, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	if err := c.start(p); err != nil {
		return nil, err
	}
	c.Primary = p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := p.Connect(ctx, "postgres")
	if err != nil {
		return nil, err
	}
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&c.Version)
	conn.Close(ctx)
	if err != nil {
		return nil, err
	}
	if opts.Replica {
		if err := c.startReplica(ctx); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *PGCluster) startReplica(ctx context.Context) error {
	r := &PGServer{Name: "replica1", DataDir: filepath.Join(c.Dir, "replica1"), logFile: filepath.Join(c.Dir, "replica1.log"), cluster: c}
	var err error
	if r.Port, err = FreePort(); err != nil {
		return err
	}
	if err := c.run("pg_basebackup", "-h", "127.0.0.1", "-p", fmt.Sprint(c.Primary.Port), "-U", "postgres",
		"-D", r.DataDir, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-C", "-S", "replica1"); err != nil {
		return err
	}
	// cluster_name becomes application_name in the primary's pg_stat_replication
	if err := appendLines(filepath.Join(r.DataDir, "postgresql.auto.conf"), []string{
		fmt.Sprintf("port = %d", r.Port), "cluster_name = 'replica1'",
	}); err != nil {
		return err
	}
	if err := c.start(r); err != nil {
		return err
	}
	c.Replica = r
	return c.WaitStreaming(ctx)
}

// pollPrimary calls f with a fresh connection to the primary's postgres database until it
// returns nil, for up to 30 s.
func (c *PGCluster) pollPrimary(ctx context.Context, f func(conn *pgx.Conn) error) error {
	return poll(ctx, 30*time.Second, func() error {
		conn, err := c.Primary.Connect(ctx, "postgres")
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return f(conn)
	})
}

// WaitStreaming waits until the replica streams from the primary.
func (c *PGCluster) WaitStreaming(ctx context.Context) error {
	return c.pollPrimary(ctx, func(conn *pgx.Conn) error {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("the replica is not streaming yet")
		}
		return nil
	})
}

// Promote ends recovery on a replica (pg_promote) and waits until it is out of recovery:
// from then on it takes writes, whatever its old primary does.
func (s *PGServer) Promote(ctx context.Context) error {
	conn, err := s.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var promoted bool
	if err := conn.QueryRow(ctx, "SELECT pg_promote(wait => true, wait_seconds => 60)").Scan(&promoted); err != nil {
		return fmt.Errorf("promoting %s: %w", s.Name, err)
	}
	if !promoted {
		return fmt.Errorf("promoting %s: pg_promote gave up after 60 s\n%s", s.Name, tailFile(s.logFile, 20))
	}
	return poll(ctx, 60*time.Second, func() error {
		var recovery bool
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&recovery); err != nil {
			return err
		}
		if recovery {
			return fmt.Errorf("%s is still in recovery", s.Name)
		}
		return nil
	})
}

// WaitReplayed waits until the replica has replayed everything the primary has written.
func (c *PGCluster) WaitReplayed(ctx context.Context) error {
	return c.pollPrimary(ctx, func(conn *pgx.Conn) error {
		var behind bool
		if err := conn.QueryRow(ctx, `SELECT coalesce(bool_or(replay_lsn IS NULL OR replay_lsn < pg_current_wal_insert_lsn()), true) FROM pg_stat_replication`).Scan(&behind); err != nil {
			return err
		}
		if behind {
			return errors.New("the replica has not replayed everything yet")
		}
		return nil
	})
}

func (c *PGCluster) hasLib(name string) bool {
	_, err := os.Stat(filepath.Join(c.Bin, "..", "lib", name+".so"))
	return err == nil
}

func (c *PGCluster) run(bin string, args ...string) error {
	cmd := c.user.command(filepath.Join(c.Bin, bin), args...)
	cmd.Env = append(os.Environ(), c.env...)
	return runLogged(cmd)
}

// start runs the server in the foreground and waits until it accepts connections.
func (c *PGCluster) start(s *PGServer) error {
	cmd := c.user.command(filepath.Join(c.Bin, "postgres"), "-D", s.DataDir)
	cmd.Env = append(os.Environ(), c.env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	s.proc, err = startServer(ctx, "PostgreSQL "+s.Name, cmd, s.logFile, 60*time.Second, func() error {
		conn, err := s.Connect(ctx, "postgres")
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
	return err
}

// Stop stops the server (fast shutdown).
func (s *PGServer) Stop() {
	s.proc.stop(syscall.SIGINT, 30*time.Second)
}

// Kill kills the server without a shutdown (crash).
func (s *PGServer) Kill() {
	s.proc.stop(syscall.SIGKILL, 10*time.Second)
}

// Start starts a stopped server again on the same port.
func (s *PGServer) Start() error {
	return s.cluster.start(s)
}

// Stop stops both servers and removes the directory.
func (c *PGCluster) Stop() {
	if c.Replica != nil && c.Replica.proc != nil {
		c.Replica.Stop()
	}
	if c.Primary != nil && c.Primary.proc != nil {
		c.Primary.Stop()
	}
	os.RemoveAll(c.Dir)
}

func appendLines(file string, lines []string) error {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString("\n# persistence_exporter tests\n" + strings.Join(lines, "\n") + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// errStop ends a poll at once.
var errStop = errors.New("gave up")

// poll calls f until it returns nil, errStop, or the time is up.
func poll(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	var err error
	for {
		if err = f(); err == nil || errors.Is(err, errStop) {
			return err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
