package pgbackrest

import (
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Kind is the pgBackRest source kind: exec bodies, and the stanzas of targets.pgbackrest.
func Kind() kind.Kind {
	return kind.Of[Target](jsonrows.Kind[Exec](queries.SourcePgbackrest, "exec"), "pgbackrest_up")
}

// Target is a pgBackRest stanza of the configuration (targets.pgbackrest), read with
// `pgbackrest info --output=json`.
type Target struct {
	config.Base `yaml:",inline"`
	Stanza      string `yaml:"stanza"`
	// Config is the pgbackrest configuration file (default: pgbackrest's own default). It is
	// read by pgbackrest when the target is scraped, on the machine the exporter runs on.
	Config string `yaml:"config"`
	// Command is how pgbackrest is run: the executable, and any words before it, split on
	// spaces (no shell): "pgbackrest" (default), "sudo -u postgres pgbackrest".
	Command string `yaml:"command"`
	// QueryTimeout bounds one run of pgbackrest.
	QueryTimeout time.Duration `yaml:"query_timeout"`

	CommandWords []string `yaml:"-"`
}

// DefaultTimeout bounds a run of pgbackrest info, which reads the repository.
const DefaultTimeout = 30 * time.Second

// SetDirectory makes a relative config path relative to dir.
func (b *Target) SetDirectory(dir string) { b.Config = promconfig.JoinDir(dir, b.Config) }

// Check checks the target.
func (b *Target) Check(c *config.Check) {
	if b.Stanza == "" {
		c.Errorf(nil, "%s needs a stanza", c.Subject())
	}
	if b.Command == "" {
		b.Command = "pgbackrest"
	}
	b.CommandWords = strings.Fields(b.Command)
	c.Duration("query_timeout", &b.QueryTimeout, DefaultTimeout)
}

// Build makes the target's source.
func (b *Target) Build(*kind.Env) (*kind.Built, error) {
	src, err := New(Options{Command: b.CommandWords, Config: b.Config, Stanza: b.Stanza, Timeout: b.QueryTimeout})
	if err != nil {
		return nil, err
	}
	return &kind.Built{Source: src, Timeout: b.QueryTimeout, Parallel: 2, Address: "stanza " + b.Stanza}, nil
}
