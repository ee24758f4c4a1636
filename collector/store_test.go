package collector

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"testing"
	"testing/synctest"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func rowsOf(v any) *queries.Rows {
	return &queries.Rows{Columns: []string{"v"}, Values: [][]any{{v}}}
}

func TestStoreTTL(t *testing.T) {
	s := NewStore()
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	q := &queries.Query{Name: "q"}
	var runs int
	run := func(ctx context.Context) (*queries.Rows, error) {
		runs++
		return rowsOf(int64(runs)), nil
	}
	r1 := s.Get(context.Background(), "k", q, time.Minute, time.Second, run)
	now = now.Add(59 * time.Second)
	r2 := s.Get(context.Background(), "k", q, time.Minute, time.Second, run)
	now = now.Add(2 * time.Second)
	r3 := s.Get(context.Background(), "k", q, time.Minute, time.Second, run)
	if runs != 2 || r1.Cached || !r2.Cached || r3.Cached || r2.Rows.Values[0][0] != int64(1) || r3.Rows.Values[0][0] != int64(2) {
		t.Errorf("runs %d; cached %v %v %v", runs, r1.Cached, r2.Cached, r3.Cached)
	}
	// with no TTL every call runs
	s.Get(context.Background(), "k", q, 0, time.Second, run)
	if runs != 3 {
		t.Errorf("runs %d with ttl 0, want 3", runs)
	}
}

func TestStoreErrorsAreNotCached(t *testing.T) {
	s := NewStore()
	q := &queries.Query{Name: "q"}
	fail := true
	run := func(ctx context.Context) (*queries.Rows, error) {
		if fail {
			return nil, errors.New("boom")
		}
		return rowsOf(int64(1)), nil
	}
	if r := s.Get(context.Background(), "k", q, time.Hour, time.Second, run); r.Err == nil {
		t.Fatal("want the error")
	}
	fail = false
	if r := s.Get(context.Background(), "k", q, time.Hour, time.Second, run); r.Err != nil || r.Cached {
		t.Errorf("after a failure the next call must run again: %+v", r)
	}
	if n := s.Errors("k"); n != 1 {
		t.Errorf("errors %d, want 1", n)
	}
}

func TestStoreDeadlineDetachesExecution(t *testing.T) {
	// in a bubble: the scrape's 20 ms and the query's 200 ms are fake time, so the scrape
	// always gives up first and the execution always outlives it
	synctest.Test(t, func(t *testing.T) {
		s := NewStore()
		q := &queries.Query{Name: "q"}
		finished := make(chan error, 1)
		run := func(ctx context.Context) (*queries.Rows, error) {
			select {
			case <-time.After(200 * time.Millisecond):
				finished <- nil
				return rowsOf(int64(7)), nil
			case <-ctx.Done():
				finished <- ctx.Err()
				return nil, ctx.Err()
			}
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		r := s.Get(ctx, "k", q, time.Minute, 5*time.Second, run)
		if !errors.Is(r.Err, share.ErrDeadline) {
			t.Fatalf("err = %v, want the scrape deadline", r.Err)
		}
		if waited := time.Since(start); waited != 20*time.Millisecond {
			t.Errorf("the scrape waited %s, want its deadline, 20ms", waited)
		}
		// the execution goes on after the scrape gave up, and fills the store
		if err := <-finished; err != nil {
			t.Fatalf("the execution was cancelled with the scrape: %v", err)
		}
		// let the execution store its result and leave the flight
		synctest.Wait()
		if r := s.Get(context.Background(), "k", q, time.Minute, time.Second, run); !r.Cached || r.Rows.Values[0][0] != int64(7) {
			t.Errorf("the next scrape should get the stored result: %+v", r)
		}
		if n := s.Errors("k"); n != 1 {
			t.Errorf("errors %d, want 1 (the scrape that gave up)", n)
		}
	})
}

func TestStoreQueryTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewStore()
		q := &queries.Query{Name: "q"}
		r := s.Get(context.Background(), "k", q, 0, 20*time.Millisecond, func(ctx context.Context) (*queries.Rows, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if r.Err == nil || !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a timeout", r.Err)
		}
	})
}

func TestMetricValue(t *testing.T) {
	plain := &queries.Metric{Scale: 1}
	ms := &queries.Metric{Scale: 1, Milliseconds: true}
	mapped := &queries.Metric{Scale: 1, Mapping: map[string]float64{"streaming": 3}}
	scaled := &queries.Metric{Scale: 0.001}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 500_000_000, time.UTC)
	for _, tc := range []struct {
		m    *queries.Metric
		in   any
		want float64
		ok   bool
	}{
		{plain, int64(5), 5, true},
		{plain, 2.5, 2.5, true},
		{plain, true, 1, true},
		{plain, false, 0, true},
		{plain, nil, 0, false},
		{plain, " 12.5 ", 12.5, true},
		{plain, "n/a", 0, false},
		{plain, ts, float64(ts.Unix()) + 0.5, true},
		{plain, time.Time{}, 0, false},
		{plain, math.NaN(), 0, false},
		{scaled, int64(1500), 1.5, true},
		{ms, "1.5s", 1500, true},
		{ms, 2.0, 2000, true},
		{mapped, "streaming", 3, true},
		{mapped, "unknown", 0, false},
	} {
		got, ok := metricValue(tc.m, tc.in)
		if ok != tc.ok || (ok && math.Abs(got-tc.want) > 1e-9) {
			t.Errorf("metricValue(%+v, %#v) = %v, %v; want %v, %v", tc.m, tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestScrapeTimeout(t *testing.T) {
	opts := HandlerOpts{TimeoutOffset: 500 * time.Millisecond, DefaultTimeout: 10 * time.Second}
	for header, want := range map[string]time.Duration{
		"":     9500 * time.Millisecond,
		"15":   14500 * time.Millisecond,
		"0.75": 750 * time.Millisecond, // too short to take the offset off
		"junk": 9500 * time.Millisecond,
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		if header != "" {
			r.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", header)
		}
		if got := scrapeTimeout(r, opts); got != want {
			t.Errorf("header %q: %s, want %s", header, got, want)
		}
	}
}
