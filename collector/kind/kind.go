// Package kind says what a source kind is: one value, exported by the kind's own package
// (postgres.Kind(), redis.Kind(), ...), that holds everything about the kind the rest of the
// exporter needs: how the bodies of its pack queries are read, what its targets look like in
// the configuration and how they are checked, and how a configured target becomes a running
// source. collector/kinds lists the kinds that run in one table; nothing else names
// them.
//
// A source package imports this package, queries and internal/config, never the engine
// (collector) or the advisor.
package kind

import (
	"context"
	"log/slog"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// Kind is a source kind.
type Kind struct {
	// Pack reads the bodies of the kind's pack queries. Its Name is the pack's source and the
	// key of the kind's list under targets: in the configuration.
	Pack queries.SourceKind
	// Up is the name of the up gauge of the kind's targets, as the established exporter
	// names it (pg_up).
	Up string
	// NewTarget returns a pointer to a new target of the kind: the entries of
	// targets.<Pack.Name> decode, strictly, into values of its type, and its Check fills in
	// the defaults of what an entry leaves unset.
	NewTarget func() Target
}

// Of is the kind whose targets are of type T: *T is the Target an entry of
// targets.<pack.Name> decodes into. up names the targets' up gauge.
func Of[T any, P interface {
	*T
	Target
}](pack queries.SourceKind, up string) Kind {
	return Kind{Pack: pack, Up: up, NewTarget: func() Target { return P(new(T)) }}
}

// Target is a configured target of a kind: the type its entries decode into (inlining
// config.Base), its checks, and its constructor.
type Target interface {
	config.Target
	// Build makes the target's source, once the configuration and the packs are checked.
	// Sources connect lazily: Build sends nothing to the server.
	Build(env *Env) (*Built, error)
}

// Env is what a target's Build is given.
type Env struct {
	// Queries are the kind's queries of the packs, one list for every target of the kind:
	// never change it in place.
	Queries []*queries.Query
	// Log is the target's logger: its records carry target=<name>. ExporterLog is the
	// exporter's, for what is process-wide (a client library's one logger).
	Log, ExporterLog *slog.Logger
	// Redactor masks the configuration's secrets; Build adds the forms a credential takes on
	// the wire (an HTTP Authorization header) when the source makes them.
	Redactor *secret.Redactor
	// ErrorAt is an error at the file and line of path below the target, for what only the
	// packs tell wrong (a top_n naming no query).
	ErrorAt func(path []any, format string, args ...any) error
}

// Built is a running target, as Build makes it.
type Built struct {
	Source Source
	// Timeout bounds a probe and a query that sets none.
	Timeout time.Duration
	// Parallel is how many queries run at once on the target (its connection cap).
	Parallel int
	// TopN overrides the Top.N of queries, by query name.
	TopN map[string]int
	// Address describes the target for people (landing page, logs): never a secret.
	Address string
}

// Source runs queries on one target. There is one implementation per protocol
// (collector/postgres, ...); sources know nothing about metrics.
type Source interface {
	// Probe connects if needed and reports what the server is: version, role, features.
	// An error means the target is down. Probe and Run are called with the context of a
	// gather (share.GatherOf): what a source fetches for several queries (one INFO reply,
	// one answer read by several queries) is shared in the gather with share.InGather, never
	// kept in the source, so that overlapping gathers (a scrape and an advisor run) neither
	// see nor clear each other's answers.
	Probe(ctx context.Context) (queries.ServerInfo, error)
	// Run executes body, the body of q chosen for the probed server.
	Run(ctx context.Context, q *queries.Query, body queries.Body) (*queries.Rows, error)
	// Close releases connections.
	Close()
}

// Kinds is a table of kinds, in the order they are listed to people.
type Kinds []Kind

// Packs are the kinds' pack sides, for the pack loader.
func (ks Kinds) Packs() queries.SourceKinds {
	out := make(queries.SourceKinds, len(ks))
	for i, k := range ks {
		out[i] = k.Pack
	}
	return out
}

// Targets are the kinds' configuration sides, for the configuration loader.
func (ks Kinds) Targets() []config.TargetKind {
	out := make([]config.TargetKind, len(ks))
	for i, k := range ks {
		out[i] = config.TargetKind{Key: k.Pack.Name, New: func() config.Target { return k.NewTarget() }}
	}
	return out
}

// Get returns the kind named name.
func (ks Kinds) Get(name string) (Kind, bool) {
	for _, k := range ks {
		if k.Pack.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}
