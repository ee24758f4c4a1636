// Package share runs an expensive fetch once for everyone who asks for it at the same time:
// one execution of a query for the scrapes and advisor runs that want it, one INFO reply or
// Elasticsearch answer or run of pgbackrest info for the queries of one gather.
//
// A shared fetch is detached from the cancellation of the caller that started it and bounded
// by a timeout of its own, so that a caller that gives up does not fail the others; every
// caller waits with its own context. A Flight forgets a fetch when it is done; a Gather keeps
// its fetches until the gather ends.
package share

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrDeadline wraps the error of a caller that stopped waiting for a shared fetch.
var ErrDeadline = errors.New("deadline reached before the shared fetch finished")

type call[V any] struct {
	done chan struct{}
	v    V
	err  error
}

// calls are the fetches of a Flight or a Gather, by key.
type calls[V any] struct {
	mu sync.Mutex
	m  map[string]*call[V]
	// onJoin, when set, is called when a caller joins a fetch under way (SetOnJoin)
	onJoin func(key string)
}

// do joins the fetch of key or starts it. keep leaves the finished fetch in place for later
// callers; otherwise it is forgotten when done.
func (cs *calls[V]) do(ctx context.Context, key string, timeout time.Duration, keep bool,
	fetch func(ctx context.Context) (V, error)) (V, error) {
	cs.mu.Lock()
	if cs.m == nil {
		cs.m = map[string]*call[V]{}
	}
	c, ok := cs.m[key]
	if !ok {
		c = &call[V]{done: make(chan struct{})}
		cs.m[key] = c
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			c.v, c.err = fetch(fctx)
			if !keep {
				cs.mu.Lock()
				if cs.m[key] == c {
					delete(cs.m, key)
				}
				cs.mu.Unlock()
			}
			close(c.done)
		}()
	}
	onJoin := cs.onJoin
	cs.mu.Unlock()
	if ok && onJoin != nil {
		onJoin(key)
	}
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		var zero V
		return zero, fmt.Errorf("%w: %w", ErrDeadline, context.Cause(ctx))
	}
}

// Flight shares the fetches under way: a caller of a key that is being fetched joins that
// fetch; a caller that comes after it is done fetches again. The zero Flight is ready.
type Flight[V any] struct{ cs calls[V] }

// Do returns the value of the fetch of key under way, or starts one. The fetch's context
// keeps the values of the starting caller's ctx, not its cancellation, and ends after
// timeout.
func (f *Flight[V]) Do(ctx context.Context, key string, timeout time.Duration, fetch func(ctx context.Context) (V, error)) (V, error) {
	return f.cs.do(ctx, key, timeout, false, fetch)
}

// SetOnJoin has f called each time a caller joins a fetch under way (before it waits): a
// test orders its goroutines on it instead of sleeping.
func (f *Flight[V]) SetOnJoin(join func(key string)) {
	f.cs.mu.Lock()
	defer f.cs.mu.Unlock()
	f.cs.onJoin = join
}

// Gather is the scope of one gather of one target: the fetches made in it (by the queries of
// the gather, and by the probe that opened it) are shared by all its queries, failures too,
// and released when it ends. The engine opens one per gather and passes it to the source in
// the context (WithGather): two gathers that overlap (a scrape and an advisor run) never see,
// nor clear, each other's fetches.
type Gather struct{ cs calls[any] }

// NewGather opens a gather scope.
func NewGather() *Gather { return &Gather{} }

// End releases the fetched values: large answers are not kept after the gather. A fetch
// still running completes for its waiters; a fetch asked for after End runs anew.
func (g *Gather) End() {
	g.cs.mu.Lock()
	defer g.cs.mu.Unlock()
	g.cs.m = nil
}

type gatherKey struct{}

// WithGather returns ctx carrying g.
func WithGather(ctx context.Context, g *Gather) context.Context {
	return context.WithValue(ctx, gatherKey{}, g)
}

// GatherOf returns the gather ctx carries, or nil.
func GatherOf(ctx context.Context) *Gather {
	g, _ := ctx.Value(gatherKey{}).(*Gather)
	return g
}

// InGather returns the value of key in the gather ctx carries, fetching it if no caller of
// the gather has yet. Outside a gather (a check-config run, a test that calls a source
// directly) every call fetches, with the same detachment and timeout.
func InGather[V any](ctx context.Context, key string, timeout time.Duration, fetch func(ctx context.Context) (V, error)) (V, error) {
	g := GatherOf(ctx)
	if g == nil {
		var f Flight[V]
		return f.Do(ctx, key, timeout, fetch)
	}
	v, err := g.cs.do(ctx, key, timeout, true, func(ctx context.Context) (any, error) { return fetch(ctx) })
	typed, _ := v.(V) // the zero V for a nil answer
	return typed, err
}

// SetInGather stores a value fetched another way (the probe's own answer) in the gather ctx
// carries; outside a gather it does nothing.
func SetInGather[V any](ctx context.Context, key string, v V) {
	g := GatherOf(ctx)
	if g == nil {
		return
	}
	c := &call[any]{done: make(chan struct{}), v: v}
	close(c.done)
	g.cs.mu.Lock()
	defer g.cs.mu.Unlock()
	if g.cs.m == nil {
		g.cs.m = map[string]*call[any]{}
	}
	g.cs.m[key] = c
}
