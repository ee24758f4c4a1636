package share

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestPerGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p PerGather[int]
		var runs atomic.Int32
		release := make(chan struct{})
		fetch := func(ctx context.Context) (int, error) {
			runs.Add(1)
			<-release
			return 42, nil
		}
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if v, err := p.Do(context.Background(), "k", time.Second, fetch); v != 42 || err != nil {
					t.Errorf("%v %v", v, err)
				}
			}()
		}
		// every caller is waiting on the one fetch before it lands
		synctest.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("%d fetches started in one gather, want 1", n)
		}
		close(release)
		wg.Wait()
		if n := runs.Load(); n != 1 {
			t.Errorf("%d fetches in one gather, want 1", n)
		}
		// the next gather fetches again
		p.Reset()
		if _, err := p.Do(context.Background(), "k", time.Second, fetch); err != nil || runs.Load() != 2 {
			t.Errorf("after Reset: %v, %d fetches", err, runs.Load())
		}
		// Set serves a value without a fetch
		p.Set("probe", 7)
		if v, _ := p.Do(context.Background(), "probe", time.Second, fetch); v != 7 || runs.Load() != 2 {
			t.Errorf("Set: %d, %d fetches", v, runs.Load())
		}
	})
}

// A caller that gives up does not fail the fetch for the others: it runs on its own timeout.
// In a bubble the 10 ms and 100 ms are fake time: the impatient caller always gives up first.
func TestPerGatherCallerGivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p PerGather[string]
		fetch := func(ctx context.Context) (string, error) {
			select {
			case <-time.After(100 * time.Millisecond):
				return "done", nil
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		start := time.Now()
		short, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := p.Do(short, "k", time.Second, fetch); !errors.Is(err, ErrDeadline) {
			t.Fatalf("err = %v, want ErrDeadline", err)
		}
		if waited := time.Since(start); waited != 10*time.Millisecond {
			t.Errorf("the impatient caller waited %s, want its deadline, 10ms", waited)
		}
		if v, err := p.Do(context.Background(), "k", time.Second, fetch); v != "done" || err != nil {
			t.Errorf("the patient caller: %q %v", v, err)
		}
		if waited := time.Since(start); waited != 100*time.Millisecond {
			t.Errorf("the patient caller got the answer after %s, want the fetch's 100ms", waited)
		}
		// the fetch's own timeout bounds it
		p.Reset()
		if _, err := p.Do(context.Background(), "k", 10*time.Millisecond, fetch); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the fetch's timeout", err)
		}
	})
}
