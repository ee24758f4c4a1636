package config

import (
	"strings"
	"time"
)

// Pgbackrest is a pgBackRest stanza, read with `pgbackrest info --output=json`.
type Pgbackrest struct {
	Name   string `yaml:"name"`
	Stanza string `yaml:"stanza"`
	// Cluster names the deployment the target belongs to (the PostgreSQL cluster's name):
	// the advisor reports its findings with that deployment's.
	Cluster string `yaml:"cluster"`
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

// DefaultPgbackrestTimeout bounds a run of pgbackrest info, which reads the repository.
const DefaultPgbackrestTimeout = 30 * time.Second

func (v *validator) pgbackrest(path []any, b *Pgbackrest) {
	v.name(path, "pgbackrest", b.Name)
	if b.Stanza == "" {
		v.errorf(path, "pgbackrest target %q needs a stanza", b.Name)
	}
	if b.Command == "" {
		b.Command = "pgbackrest"
	}
	b.CommandWords = strings.Fields(b.Command)
	v.duration(path, "query_timeout", &b.QueryTimeout, DefaultPgbackrestTimeout)
}
