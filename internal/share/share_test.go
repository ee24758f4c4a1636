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

// sharedOnce has 10 callers ask for key at once, through do, while the fetch is held: they
// share one fetch and all get its value.
func sharedOnce(t *testing.T, do func(ctx context.Context, key string, fetch func(context.Context) (int, error)) (int, error)) (runs *atomic.Int32) {
	t.Helper()
	runs = new(atomic.Int32)
	release := make(chan struct{})
	fetch := func(ctx context.Context) (int, error) {
		runs.Add(1)
		<-release
		return 42, nil
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := do(context.Background(), "k", fetch); v != 42 || err != nil {
				t.Errorf("%v %v", v, err)
			}
		}()
	}
	// every caller is waiting on the one fetch before it lands
	synctest.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("%d fetches started for 10 concurrent callers, want 1", n)
	}
	close(release)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("%d fetches for 10 concurrent callers, want 1", n)
	}
	return runs
}

func TestFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f Flight[int]
		// SetOnJoin's hook runs for each caller that joins the fetch under way
		var joins atomic.Int32
		f.SetOnJoin(func(key string) {
			if key == "k" {
				joins.Add(1)
			}
		})
		runs := sharedOnce(t, func(ctx context.Context, key string, fetch func(context.Context) (int, error)) (int, error) {
			return f.Do(ctx, key, time.Second, fetch)
		})
		if n := joins.Load(); n != 9 {
			t.Errorf("%d joins of the fetch of 10 callers, want 9", n)
		}
		// a fetch that is done is forgotten: the next caller fetches again, joining nothing
		if v, err := f.Do(context.Background(), "k", time.Second, func(context.Context) (int, error) {
			runs.Add(1)
			return 43, nil
		}); v != 43 || err != nil || runs.Load() != 2 || joins.Load() != 9 {
			t.Errorf("after the flight: %d %v, %d fetches, %d joins", v, err, runs.Load(), joins.Load())
		}
	})
}

func TestGather(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewGather()
		ctx := WithGather(context.Background(), g)
		runs := sharedOnce(t, func(_ context.Context, key string, fetch func(context.Context) (int, error)) (int, error) {
			return InGather(ctx, key, time.Second, fetch)
		})
		fetch := func(context.Context) (int, error) {
			runs.Add(1)
			return 7, nil
		}
		// a fetch that is done is kept for the rest of the gather
		if v, err := InGather(ctx, "k", time.Second, fetch); v != 42 || err != nil || runs.Load() != 1 {
			t.Errorf("later in the gather: %d %v, %d fetches", v, err, runs.Load())
		}
		// another gather has its own fetches
		other := WithGather(context.Background(), NewGather())
		if v, _ := InGather(other, "k", time.Second, fetch); v != 7 || runs.Load() != 2 {
			t.Errorf("another gather: %d, %d fetches", v, runs.Load())
		}
		// SetInGather serves a value without a fetch
		SetInGather(ctx, "probe", 9)
		if v, _ := InGather(ctx, "probe", time.Second, fetch); v != 9 || runs.Load() != 2 {
			t.Errorf("SetInGather: %d, %d fetches", v, runs.Load())
		}
		// a failure is shared too: the queries of one gather see one answer
		boom := errors.New("boom")
		for range 2 {
			if _, err := InGather(ctx, "fails", time.Second, func(context.Context) (int, error) {
				runs.Add(1)
				return 0, boom
			}); !errors.Is(err, boom) || runs.Load() != 3 {
				t.Errorf("failure: %v, %d fetches", err, runs.Load())
			}
		}
		// the end of the gather releases its values: what is asked after fetches again
		g.End()
		if v, _ := InGather(ctx, "k", time.Second, fetch); v != 7 || runs.Load() != 4 {
			t.Errorf("after End: %d, %d fetches", v, runs.Load())
		}
		// outside a gather every call fetches
		for range 2 {
			InGather(context.Background(), "k", time.Second, fetch)
		}
		SetInGather(context.Background(), "k", 1)
		if runs.Load() != 6 {
			t.Errorf("outside a gather: %d fetches, want 6", runs.Load())
		}
	})
}

// A caller that gives up does not fail the fetch for the others: it runs on its own timeout.
// In a bubble the 10 ms and 100 ms are fake time: the impatient caller always gives up first.
func TestCallerGivesUp(t *testing.T) {
	for name, do := range map[string]func(ctx context.Context, timeout time.Duration, fetch func(context.Context) (string, error)) (string, error){
		"flight": func() func(ctx context.Context, timeout time.Duration, fetch func(context.Context) (string, error)) (string, error) {
			var f Flight[string]
			return func(ctx context.Context, timeout time.Duration, fetch func(context.Context) (string, error)) (string, error) {
				return f.Do(ctx, "k", timeout, fetch)
			}
		}(),
		"gather": func() func(ctx context.Context, timeout time.Duration, fetch func(context.Context) (string, error)) (string, error) {
			g := NewGather()
			return func(ctx context.Context, timeout time.Duration, fetch func(context.Context) (string, error)) (string, error) {
				return InGather(WithGather(ctx, g), "k", timeout, fetch)
			}
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var runs atomic.Int32
				fetch := func(ctx context.Context) (string, error) {
					runs.Add(1)
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
				if _, err := do(short, time.Second, fetch); !errors.Is(err, ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("err = %v, want ErrDeadline with the caller's cause", err)
				}
				if waited := time.Since(start); waited != 10*time.Millisecond {
					t.Errorf("the impatient caller waited %s, want its deadline, 10ms", waited)
				}
				if v, err := do(context.Background(), time.Second, fetch); v != "done" || err != nil {
					t.Errorf("the patient caller: %q %v", v, err)
				}
				if waited := time.Since(start); waited != 100*time.Millisecond {
					t.Errorf("the patient caller got the answer after %s, want the fetch's 100ms", waited)
				}
				if n := runs.Load(); n != 1 {
					t.Errorf("%d fetches, want the one the impatient caller started", n)
				}
			})
		})
	}
}

// The fetch's own timeout bounds it.
func TestFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f Flight[int]
		wait := func(ctx context.Context) (int, error) {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		if _, err := f.Do(context.Background(), "k", 10*time.Millisecond, wait); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("flight: err = %v, want the fetch's timeout", err)
		}
		ctx := WithGather(context.Background(), NewGather())
		if _, err := InGather(ctx, "k", 10*time.Millisecond, wait); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("gather: err = %v, want the fetch's timeout", err)
		}
	})
}
