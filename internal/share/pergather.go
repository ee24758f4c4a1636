package share

import (
	"context"
	"time"
)

// PerGather holds the fetches of the current gather of a source. Reset starts a new gather;
// End releases the fetched values.
type PerGather[V any] struct{ cs calls[V] }

// Reset starts a new gather: later calls fetch again.
func (p *PerGather[V]) Reset() {
	p.cs.mu.Lock()
	defer p.cs.mu.Unlock()
	p.cs.m = nil
}

// End releases the values of the gather. A fetch still running completes for its waiters.
func (p *PerGather[V]) End() { p.Reset() }

// Set stores a value fetched another way (the probe's own answer) for this gather.
func (p *PerGather[V]) Set(key string, v V) {
	c := &call[V]{done: make(chan struct{}), v: v}
	close(c.done)
	p.cs.mu.Lock()
	defer p.cs.mu.Unlock()
	if p.cs.m == nil {
		p.cs.m = map[string]*call[V]{}
	}
	p.cs.m[key] = c
}

// Do returns the value of key in this gather, fetching it if no caller has yet.
func (p *PerGather[V]) Do(ctx context.Context, key string, timeout time.Duration, fetch func(ctx context.Context) (V, error)) (V, error) {
	return p.cs.do(ctx, key, timeout, true, fetch)
}
