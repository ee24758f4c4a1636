// Package testenv starts real servers for tests — PostgreSQL primary and streaming replica
// today — in a temporary directory on free loopback ports, once per package run.
//
// Use one Env per test package:
//
//	var env testenv.Env
//	func TestMain(m *testing.M) { os.Exit(env.Run(m)) }
//	func TestSomething(t *testing.T) { pg := env.Postgres(t); ... }
//
// Servers start on first use and stop when the package's tests are done. Under -short the
// accessors skip the test; otherwise a server that cannot start (a binary is missing, say)
// fails it.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startT starts servers of a test's own with start (StartPostgresT, StartRedisT, ...): under
// -short it skips the test (the servers are what it needs), a failure to start fails it, and
// the servers stop when it ends.
func startT[S interface{ Stop() }](t testing.TB, what string, start func() (S, error)) S {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s (skipped under -short)", what)
	}
	s, err := start()
	if err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Env holds the servers of one test package.
type Env struct {
	mu       sync.Mutex
	pg       *PGCluster
	pgErr    error
	services map[string]*service
	stops    []func() // of the services, in start order
}

type service struct {
	value any
	err   error
}

// Run runs the package's tests, then stops every server that was started.
func (e *Env) Run(m *testing.M) int {
	code := m.Run()
	e.Stop()
	return code
}

// Stop stops every server.
func (e *Env) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pg != nil {
		e.pg.Stop()
	}
	for i := len(e.stops) - 1; i >= 0; i-- {
		e.stops[i]()
	}
	e.stops = nil
}

// shared starts a service once per package run and returns it; later calls return the same
// value (or the same error). stop runs in Stop. Accessors of other services (Redis, ...) are
// built on it: skip under -short, fail the test when the service cannot start.
func (e *Env) shared(t testing.TB, name string, start func() (value any, stop func(), err error)) any {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs %s (skipped under -short)", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.services == nil {
		e.services = map[string]*service{}
	}
	s, ok := e.services[name]
	if !ok {
		s = &service{}
		var stop func()
		s.value, stop, s.err = start()
		if stop != nil {
			e.stops = append(e.stops, stop)
		}
		e.services[name] = s
	}
	if s.err != nil {
		t.Fatalf("starting %s: %v", name, s.err)
	}
	return s.value
}

// sharedServer is shared for a server that start starts and its Stop stops.
func sharedServer[S interface{ Stop() }](e *Env, t testing.TB, name string, start func() (S, error)) S {
	t.Helper()
	return e.shared(t, name, func() (any, func(), error) {
		s, err := start()
		if err != nil {
			return nil, nil, err
		}
		return s, s.Stop, nil
	}).(S)
}

// Postgres returns the package's PostgreSQL primary and replica, starting them on first use.
func (e *Env) Postgres(t testing.TB) *PGCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a PostgreSQL server (skipped under -short)")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.pg == nil && e.pgErr == nil {
		e.pg, e.pgErr = StartPostgres(PGOptions{Replica: true})
	}
	if e.pgErr != nil {
		t.Fatalf("starting PostgreSQL: %v", e.pgErr)
	}
	return e.pg
}

// PostgresNamed returns a second (third, ...) PostgreSQL cluster of the package run, started
// with opts on first use under name, for tests that need a cluster in a state of its own.
func (e *Env) PostgresNamed(t testing.TB, name string, opts PGOptions) *PGCluster {
	t.Helper()
	return sharedServer(e, t, "PostgreSQL cluster "+name, func() (*PGCluster, error) { return StartPostgres(opts) })
}

// FreePort returns a TCP port on 127.0.0.1 that nothing listens on right now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverUser is the OS user servers run as: PostgreSQL refuses to run as root, so when the
// tests run as root the servers run as "postgres".
type serverUser struct {
	cred     *syscall.Credential // nil: run as ourselves
	uid, gid int
}

func currentServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		return serverUser{uid: os.Geteuid(), gid: os.Getegid()}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return serverUser{}, fmt.Errorf("running as root, and there is no postgres OS user to run servers as (install postgresql): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return serverUser{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}, nil
}

// command prepares a command that runs as the server user.
func (u serverUser) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	if u.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.cred}
	}
	return cmd
}

// mkdir makes a directory the server user owns and everyone may traverse.
func (u serverUser) mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return os.Chown(dir, u.uid, u.gid)
}

// tempDir makes a fresh directory under the system temp dir that the server user can use.
func (u serverUser) tempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	return dir, u.mkdir(dir)
}

// serverTempDir makes a fresh directory (see tempDir) for servers that run as the server user,
// and returns both.
func serverTempDir(pattern string) (serverUser, string, error) {
	u, err := currentServerUser()
	if err != nil {
		return serverUser{}, "", err
	}
	dir, err := u.tempDir(pattern)
	return u, dir, err
}

// runLogged runs a command to completion; on failure the error carries its output.
func runLogged(cmd *exec.Cmd) error {
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(string(out), 20))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// tailFile returns the last lines of a log file, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return tail(string(b), n)
}

// process is a server running in the foreground, stopped with a signal.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func startProcess(cmd *exec.Cmd, logFile string) (*process, error) {
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	// its own process group: a Ctrl-C meant for the test binary reaches us, we stop it
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	p := &process{cmd: cmd, log: logFile, done: make(chan error, 1)}
	go func() {
		p.done <- cmd.Wait()
		f.Close()
	}()
	return p, nil
}

// startServer starts cmd, logging to logFile, and polls ready until it returns nil, for up to
// limit; a process that exits ends the wait at once. The process is returned even when it did
// not get ready, for the caller to stop.
func startServer(ctx context.Context, what string, cmd *exec.Cmd, logFile string, limit time.Duration, ready func() error) (*process, error) {
	p, err := startProcess(cmd, logFile)
	if err != nil {
		return nil, err
	}
	err = poll(ctx, limit, func() error {
		if p.exited() {
			return errStop
		}
		return ready()
	})
	if err != nil {
		return p, fmt.Errorf("%s did not start: %w\n%s", what, err, tailFile(logFile, 20))
	}
	return p, nil
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return true
	default:
		return false
	}
}

// stop sends sig and waits; after the grace period it kills.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	if p == nil || p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}
