package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/persistence-exporter/persistence_exporter/collector/kind"
	"github.com/persistence-exporter/persistence_exporter/internal/config"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/yamlx"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// NewTargets builds the configured targets, each with its kind's constructor, the kind's
// queries of set and its up metric. cfg was loaded with kinds' configuration sides
// (kinds.Targets()); log and red are the exporter's logger and redactor. On an error
// nothing is left open.
func NewTargets(kinds kind.Kinds, cfg *config.Config, set *queries.Set, log *slog.Logger, red *secret.Redactor) ([]*Target, error) {
	var (
		out  []*Target
		errs []error
		qs   = map[string][]*queries.Query{} // one list for every target of a kind
	)
	for _, ct := range cfg.Targets {
		b := config.BaseOf(ct)
		k, ok := kinds.Get(b.Kind())
		t, isKind := ct.(kind.Target)
		if !ok || !isKind {
			errs = append(errs, fmt.Errorf("%s target %q: no such kind of source in the table of kinds", b.Kind(), b.Name))
			continue
		}
		if _, ok := qs[b.Kind()]; !ok {
			qs[b.Kind()] = set.For(b.Kind())
		}
		path := b.Path()
		built, err := t.Build(&kind.Env{
			Queries: qs[b.Kind()], Log: targetLogger(log, b.Name), ExporterLog: log, Redactor: red,
			ErrorAt: func(p []any, format string, args ...any) error {
				return cfg.ErrorAt(append(append([]any{}, path...), p...), format, args...)
			},
		})
		if err != nil {
			if !errors.As(err, new(*yamlx.Error)) { // one at a file's line says where already
				err = fmt.Errorf("%s target %q: %w", b.Kind(), b.Name, err)
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, &Target{
			Name: b.Name, Kind: b.Kind(), UpMetric: k.Up, Source: built.Source, Queries: qs[b.Kind()],
			Timeout: built.Timeout, Parallel: built.Parallel, TopN: built.TopN, Cluster: b.Cluster, Address: built.Address,
		})
	}
	if err := yamlx.Join(errs...); err != nil {
		for _, t := range out {
			t.Source.Close()
		}
		return nil, err
	}
	return out, nil
}

// targetLogger is log with a target attribute that is added when a record is handled, not
// when the logger is made: slog's With formats its attributes at once, and the redacting
// handler scans them for every secret of the configuration, so one such logger per target
// made loading quadratic in the number of targets (150,000 targets with their own passwords:
// minutes). Records are rare; targets are many.
func targetLogger(log *slog.Logger, target string) *slog.Logger {
	return slog.New(&targetHandler{next: log.Handler(), target: target})
}

type targetHandler struct {
	next   slog.Handler
	target string
}

func (h *targetHandler) attr() slog.Attr { return slog.String("target", h.target) }

func (h *targetHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

// Handle puts the target first, where With would have put it.
func (h *targetHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.attr())
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *targetHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.next.WithAttrs(append([]slog.Attr{h.attr()}, attrs...))
}

func (h *targetHandler) WithGroup(name string) slog.Handler {
	return h.next.WithAttrs([]slog.Attr{h.attr()}).WithGroup(name)
}
