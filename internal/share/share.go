// Package share lets the queries of one gather share an expensive fetch: one INFO reply, one
// Elasticsearch answer read by several queries, one run of pgbackrest info.
package share

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ErrDeadline wraps the error of a caller that stopped waiting.
var ErrDeadline = fmt.Errorf("gave up waiting for a shared fetch")

// PerGather holds the fetches of the current gather. The first caller of a key runs the
// fetch, detached from its own cancellation and bounded by a timeout instead, so that a
// query that gives up does not fail the others; every caller waits with its own context.
// Reset starts a new gather (a source calls it from Probe); End releases the fetched values
// once the gather is over, so that large answers are not kept between scrapes.
type PerGather[V any] struct {
	mu    sync.Mutex
	calls map[string]*call[V]
}

type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// Reset starts a new gather: later calls fetch again.
func (p *PerGather[V]) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
}

// End releases the values of the gather. A fetch still running completes for its waiters.
func (p *PerGather[V]) End() { p.Reset() }

// Set stores a value fetched another way (the probe's own answer) for this gather.
func (p *PerGather[V]) Set(key string, v V) {
	c := &call[V]{done: make(chan struct{}), v: v}
	close(c.done)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string]*call[V]{}
	}
	p.calls[key] = c
}

// Do returns the value of key in this gather, fetching it if no caller has yet. A failed
// fetch is shared too: the queries of one gather see one answer.
func (p *PerGather[V]) Do(ctx context.Context, key string, timeout time.Duration, fetch func(ctx context.Context) (V, error)) (V, error) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[string]*call[V]{}
	}
	c, ok := p.calls[key]
	if !ok {
		c = &call[V]{done: make(chan struct{})}
		p.calls[key] = c
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			c.v, c.err = fetch(fctx)
			close(c.done)
		}()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, fmt.Errorf("%w: %w", ErrDeadline, context.Cause(ctx))
	}
}
