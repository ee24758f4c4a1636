package lanes

import (
	"context"
	"testing"
	"testing/synctest"
)

// TestLanes: with every slow slot taken, other work still gets a connection; a second
// slow admission waits until the first is done or its context ends.
func TestLanes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := New(2)
		ctx := context.Background()
		releaseLock, err := l.Acquire(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		releaseStat, err := l.Acquire(ctx, false)
		if err != nil {
			t.Fatalf("fast work waited behind slow work: %v", err)
		}
		got := make(chan error, 1)
		go func() {
			release, err := l.Acquire(ctx, true)
			if err == nil {
				release()
			}
			got <- err
		}()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("a second slow admission did not wait: %v", err)
		default:
		}
		releaseStat()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("a freed fast slot let slow work past the slow lane: %v", err)
		default:
		}
		releaseLock()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		hold, _ := l.Acquire(ctx, true)
		cancel()
		if _, err := l.Acquire(cctx, true); err == nil {
			t.Error("a cancelled wait got a slot")
		}
		hold()
		// every slot is free again
		for range 2 {
			if _, err := l.Acquire(ctx, false); err != nil {
				t.Fatal(err)
			}
		}
	})
}
