package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// preparer is a source that can have its server check a statement without running it.
type preparer interface {
	Prepare(ctx context.Context, q *queries.Query, body queries.Body) error
}

// connectConcurrency bounds the targets check-config --connect checks at once.
const connectConcurrency = 8

// checkSQL has every reachable PostgreSQL target prepare each pack statement that applies to
// it (the variant its version and extensions select), and writes one line per failure,
// with the pack's file:line and the target. It returns the number of statements that
// failed and the targets that could not be reached.
func checkSQL(ctx context.Context, w *wiring, out io.Writer) (failed int, unreachable []string, checked int) {
	type result struct {
		lines   []string
		down    string
		checked int
	}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
		sem     = make(chan struct{}, connectConcurrency)
	)
	for _, t := range w.targets {
		p, ok := t.Source.(preparer)
		if !ok || t.Kind != queries.SourcePostgres {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var r result
			pctx, cancel := context.WithTimeout(ctx, t.Timeout)
			info, err := t.Source.Probe(pctx)
			cancel()
			if err != nil {
				r.down = fmt.Sprintf("%s (%s)", t.Name, w.red.String(err.Error()))
			} else {
				for _, q := range t.Queries {
					body, skip, _ := q.Plan(info)
					if skip != "" {
						continue
					}
					qctx, cancel := context.WithTimeout(ctx, t.Timeout)
					err := p.Prepare(qctx, q, body)
					cancel()
					r.checked++
					if err != nil {
						r.lines = append(r.lines, fmt.Sprintf("%s:%d: query %q on target %q: %s", q.File, q.Line, q.Name, t.Name, w.red.String(err.Error())))
					}
				}
			}
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}()
	}
	wg.Wait()
	var lines []string
	for _, r := range results {
		lines = append(lines, r.lines...)
		if r.down != "" {
			unreachable = append(unreachable, r.down)
		}
		checked += r.checked
	}
	sort.Strings(lines)
	sort.Strings(unreachable)
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	return len(lines), unreachable, checked
}

// connectSummary is check-config's last line about the SQL.
func connectSummary(connect bool, failed, checked int, unreachable []string) string {
	if !connect {
		return "SQL not checked against a server (check-config --connect prepares every statement on each reachable PostgreSQL target)"
	}
	s := fmt.Sprintf("SQL: %d statements prepared, %d failed", checked, failed)
	if len(unreachable) > 0 {
		s += fmt.Sprintf("; not checked on %d unreachable targets: %s", len(unreachable), strings.Join(unreachable, ", "))
	}
	return s
}

// connectTimeout bounds the whole of check-config --connect.
const connectTimeout = 2 * time.Minute
