package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// countingHandler counts the loggers made from it with attributes (slog's With).
type countingHandler struct {
	slog.Handler
	withAttrs *atomic.Int64
}

func (h countingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.withAttrs.Add(1)
	return countingHandler{h.Handler.WithAttrs(attrs), h.withAttrs}
}

// TestLoadDoesNotFormatPerTarget: loading many PostgreSQL targets formats nothing per target up
// front. A logger made with With per target had the redacting handler scan its attribute for
// every secret of the configuration: with a password per target, loading was quadratic (150,000
// targets: minutes).
func TestLoadDoesNotFormatPerTarget(t *testing.T) {
	var b strings.Builder
	b.WriteString("targets:\n  postgres:\n")
	const n = 200
	for i := range n {
		fmt.Fprintf(&b, "    - name: pg-%03d\n      dsn: postgres://exporter:password-%03d@127.0.0.1:1/temporal?sslmode=disable\n", i, i)
	}
	file := testenv.WriteFile(t, t.TempDir(), "many.yml", b.String())
	var withAttrs atomic.Int64
	red := &secret.Redactor{}
	logger := slog.New(red.Handler(countingHandler{slog.NewTextHandler(&bytes.Buffer{}, nil), &withAttrs}))
	w, err := load(file, red, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer w.engine.Close()
	if len(w.targets) != n {
		t.Fatalf("%d targets, want %d", len(w.targets), n)
	}
	if got := withAttrs.Load(); got != 0 {
		t.Errorf("loading %d targets made %d loggers with attributes, want none (the target is added when a record is logged)", n, got)
	}
	// and the targets share one list of queries
	for _, tg := range w.targets[1:] {
		if &tg.Queries[0] != &w.targets[0].Queries[0] {
			t.Fatalf("target %s has a list of queries of its own", tg.Name)
		}
	}
}
