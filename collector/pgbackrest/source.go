// Package pgbackrest is the pgBackRest source: it runs `pgbackrest info --output=json` for a
// stanza and turns the JSON into rows as the pack's exec bodies say (collector/jsonrows).
package pgbackrest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/internal/version"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Options configure a source.
type Options struct {
	// Command is the pgbackrest executable and any words before it (sudo -u postgres
	// pgbackrest); default pgbackrest.
	Command []string
	// Config is the pgbackrest configuration file (--config); empty: pgbackrest's default.
	Config string
	// Stanza is the stanza to report (--stanza).
	Stanza string
	// MaxOutput bounds the output read (default 16 MiB).
	MaxOutput int
	// Timeout bounds one run of pgbackrest (default 30s).
	Timeout time.Duration
}

// Source runs pgbackrest for one stanza.
type Source struct {
	opts  Options
	plans sync.Map // *Exec -> *jsonrows.Plan

	mu      sync.Mutex
	version int
}

// New prepares a source; nothing runs until the first probe.
func New(opts Options) (*Source, error) {
	if len(opts.Command) == 0 {
		opts.Command = []string{"pgbackrest"}
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = 16 << 20
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Stanza == "" {
		return nil, errors.New("no stanza")
	}
	return &Source{opts: opts}, nil
}

// Close does nothing: no connection is kept.
func (s *Source) Close() {}

var versionRe = regexp.MustCompile(`pgBackRest (\d+\.\d+(?:\.\d+)?)`)

// infoArgs are the arguments of the probe, which the default pack's queries share.
var infoArgs = []string{"info", "--output=json"}

// Probe runs pgbackrest info for the stanza: the target is up when pgbackrest answers with a
// JSON document (a stanza in trouble is up, with its status code). The document serves the
// queries of this gather that ask for the same arguments. The version is read once.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) {
	s.mu.Lock()
	v := s.version
	s.mu.Unlock()
	if v == 0 {
		out, err := s.run(ctx, []string{"version"})
		if err != nil {
			return queries.ServerInfo{}, fmt.Errorf("probe: %w", err)
		}
		m := versionRe.FindSubmatch(out)
		if m == nil {
			return queries.ServerInfo{}, fmt.Errorf("probe: cannot read the version in %q", strings.TrimSpace(string(out)))
		}
		if v, err = version.Number(string(m[1])); err != nil {
			return queries.ServerInfo{}, fmt.Errorf("probe: %w", err)
		}
		s.mu.Lock()
		s.version = v
		s.mu.Unlock()
	}
	doc, err := s.document(ctx, infoArgs)
	if err != nil {
		return queries.ServerInfo{}, fmt.Errorf("probe: %w", err)
	}
	if list, ok := doc.([]any); !ok || len(list) == 0 {
		return queries.ServerInfo{}, fmt.Errorf("probe: pgbackrest info reported no stanza %q", s.opts.Stanza)
	}
	return queries.ServerInfo{Version: v, Features: map[string]string{}}, nil
}

// Run turns the JSON of the body's command into rows.
func (s *Source) Run(ctx context.Context, q *queries.Query, body queries.Body) (*queries.Rows, error) {
	e, _ := body.(*Exec)
	if e == nil {
		return nil, errors.New("the query has no exec body")
	}
	doc, err := s.document(ctx, e.Args)
	if err != nil {
		return nil, err
	}
	p, err := s.plan(q, e)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	version := s.version
	s.mu.Unlock()
	return p.Extract(doc, jsonrows.Env{Cluster: s.opts.Stanza, Version: version, Now: time.Now()})
}

func (s *Source) plan(q *queries.Query, e *Exec) (*jsonrows.Plan, error) {
	if p, ok := s.plans.Load(e); ok {
		return p.(*jsonrows.Plan), nil
	}
	p, err := jsonrows.Compile(q, &e.JSON)
	if err != nil {
		return nil, err
	}
	actual, _ := s.plans.LoadOrStore(e, p)
	return actual.(*jsonrows.Plan), nil
}

// document runs pgbackrest with args once per gather and decodes its JSON output; the
// queries with the same arguments share the run.
func (s *Source) document(ctx context.Context, args []string) (any, error) {
	return share.InGather(ctx, strings.Join(args, "\x00"), s.opts.Timeout, func(ctx context.Context) (any, error) {
		out, err := s.run(ctx, args)
		if err != nil {
			return nil, err
		}
		return jsonrows.Decode(bytes.NewReader(out), int64(s.opts.MaxOutput), "pgbackrest "+args[0])
	})
}

// run executes pgbackrest. It runs in its own process group, killed whole when ctx ends:
// pgbackrest starts helper processes of its own.
func (s *Source) run(ctx context.Context, args []string) ([]byte, error) {
	argv := append([]string{}, s.opts.Command[1:]...)
	if s.opts.Config != "" {
		argv = append(argv, "--config="+s.opts.Config)
	}
	argv = append(argv, "--stanza="+s.opts.Stanza)
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, s.opts.Command[0], argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stdout limitedBuffer
	stdout.max = s.opts.MaxOutput
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	name := "pgbackrest " + args[0]
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", name, context.Cause(ctx))
	case err != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		return nil, fmt.Errorf("%s: %w: %s", name, err, msg)
	case stdout.over:
		return nil, fmt.Errorf("%s: the output is larger than %d bytes", name, s.opts.MaxOutput)
	}
	return stdout.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and notes whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
