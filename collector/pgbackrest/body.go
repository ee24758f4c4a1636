package pgbackrest

import (
	"fmt"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
)

// Exec is the body of a pgbackrest query: the arguments of a pgbackrest command whose JSON
// output becomes rows, as an http body's answer does. The source adds the target's
// --config and --stanza.
//
//	exec:
//	  args: [info, --output=json]
//	  rows: "*"                 # one row per stanza
//	  fields: {stanza: name}
type Exec struct {
	Args          []string `yaml:"args"`
	jsonrows.JSON `yaml:",inline"`
}

// execCommands are the pgbackrest commands a pack may run: those that only read.
var execCommands = []string{"info"}

// Validate checks the body on its own: only commands that read, and no option the target sets.
func (e *Exec) Validate() []string {
	var msgs []string
	switch {
	case len(e.Args) == 0:
		msgs = append(msgs, "exec needs args (a pgbackrest command and its options)")
	case e.Args[0] != "info":
		msgs = append(msgs, fmt.Sprintf("exec: pgbackrest %q is not allowed: only %s, which only reads", e.Args[0], strings.Join(execCommands, ", ")))
	}
	for _, a := range e.Args {
		if strings.HasPrefix(a, "--config") || strings.HasPrefix(a, "--stanza") {
			msgs = append(msgs, fmt.Sprintf("exec: %s comes from the target's configuration, not the pack", strings.SplitN(a, "=", 2)[0]))
		}
	}
	return append(msgs, e.JSON.Validate("exec")...)
}
