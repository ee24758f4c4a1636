// Package lanes admits work to a small set of connections so that one kind of work cannot
// take them all: every admission takes a slot of the whole set; "slow" work (statements
// that may wait for a lock, requests to index endpoints that may hang) first takes a slot
// of a lane one slot smaller. However much slow work is stuck, the rest keeps a connection.
package lanes

import "context"

// Lanes hold the slots. The zero value is not usable: use New.
type Lanes struct {
	all  chan struct{}
	slow chan struct{}
}

// New makes lanes for conns connections (at least 1); the slow lane has conns-1 slots (at
// least 1: with one connection nothing can be kept back).
func New(conns int) *Lanes {
	conns = max(conns, 1)
	return &Lanes{all: make(chan struct{}, conns), slow: make(chan struct{}, max(conns-1, 1))}
}

// SlowSlots is how many slow admissions may run at once.
func (l *Lanes) SlowSlots() int { return cap(l.slow) }

// TryAcquire takes a slot of the whole set if one is free, without waiting.
func (l *Lanes) TryAcquire() (release func(), ok bool) {
	select {
	case l.all <- struct{}{}:
		return func() { <-l.all }, true
	default:
		return nil, false
	}
}

// Acquire waits for the slots of one admission (the slow lane's first, when slow) and
// returns their release, or the context's cause.
func (l *Lanes) Acquire(ctx context.Context, slow bool) (release func(), err error) {
	if slow {
		select {
		case l.slow <- struct{}{}:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
	select {
	case l.all <- struct{}{}:
	case <-ctx.Done():
		if slow {
			<-l.slow
		}
		return nil, context.Cause(ctx)
	}
	return func() {
		<-l.all
		if slow {
			<-l.slow
		}
	}, nil
}
