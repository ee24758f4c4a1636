package elasticsearch

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
)

// HTTP is the body of an elasticsearch query: a GET and how its JSON answer becomes rows.
//
//	http:
//	  path: /_nodes/stats/breaker          # {indices} etc. are the target's configured lists
//	  rows: nodes.*.breakers.*
//	  fields: {name: ^name, breaker: $key}
//	columns:
//	  - {name: name, usage: label}
//	  - {name: breaker, usage: label}
//	  - {name: tripped, usage: counter, metric: elasticsearch_breakers_tripped}
type HTTP struct {
	// Path is the GET path with its query string. {indices}, {slm_policies} and
	// {snapshot_repositories} are replaced by the target's configured lists, comma-joined.
	Path          string `yaml:"path"`
	jsonrows.JSON `yaml:",inline"`
}

// Placeholders are the lists an http path may name in braces; a target configures them.
var Placeholders = []string{"indices", "slm_policies", "snapshot_repositories"}

var placeholderRe = regexp.MustCompile(`\{([^{}]*)\}`)

// Validate checks the body on its own.
func (h *HTTP) Validate() []string {
	var msgs []string
	switch {
	case h.Path == "":
		msgs = append(msgs, "http needs a path")
	case !strings.HasPrefix(h.Path, "/"):
		msgs = append(msgs, fmt.Sprintf("http path %q must start with /", h.Path))
	case strings.ContainsAny(h.Path, " \t\n#"):
		msgs = append(msgs, fmt.Sprintf("http path %q has a space or #", h.Path))
	}
	for _, m := range placeholderRe.FindAllStringSubmatch(h.Path, -1) {
		if !slices.Contains(Placeholders, m[1]) {
			msgs = append(msgs, fmt.Sprintf("http path: unknown placeholder {%s} (want one of {%s})", m[1], strings.Join(Placeholders, "}, {")))
		}
	}
	return append(msgs, h.JSON.Validate("http")...)
}
