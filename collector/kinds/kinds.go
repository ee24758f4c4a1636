// Package kinds is the table of the source kinds that run: the only list of them, read by
// the exporter's wiring (cmd/persistence_exporter) and by the tests that load the default
// packs of every kind.
package kinds

import (
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/collector/redis"
)

// All is the table of what runs: each source kind reads the bodies of its packs, checks the
// targets of its list under targets: in the configuration and builds their sources
// (collector/<kind>/config.go), in the order they are listed to people.
var All = kind.Kinds{
	postgres.Kind(),
	postgres.PgbouncerKind(),
	redis.Kind(),
	elasticsearch.Kind(),
	pgbackrest.Kind(),
}
