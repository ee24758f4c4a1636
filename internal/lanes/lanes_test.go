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
		// stillWaiting fails the test when the admission has returned once the bubble is idle
		stillWaiting := func(what string) {
			t.Helper()
			synctest.Wait()
			select {
			case err := <-got:
				t.Fatalf("%s: %v", what, err)
			default:
			}
		}
		stillWaiting("a second slow admission did not wait")
		releaseStat()
		stillWaiting("a freed fast slot let slow work past the slow lane")
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
