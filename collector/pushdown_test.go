package collector

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// limitSource returns five rows, v = 5..1, or the first RowLimit of them, and records the
// limit of each run (-1: none).
type limitSource struct {
	mu     sync.Mutex
	limits []int
}

func (s *limitSource) Probe(context.Context) (queries.ServerInfo, error) {
	return queries.ServerInfo{Version: 1}, nil
}

func (s *limitSource) Run(ctx context.Context, q *queries.Query, _ queries.Body) (*queries.Rows, error) {
	n, ok := queries.RowLimit(ctx)
	if !ok {
		n = -1
	}
	s.mu.Lock()
	s.limits = append(s.limits, n)
	s.mu.Unlock()
	rows := &queries.Rows{Columns: []string{"l", "v"}}
	for v := int64(5); v >= 1 && (n < 0 || len(rows.Values) < n); v-- {
		rows.Values = append(rows.Values, []any{string(rune('a' + v)), v})
	}
	return rows, nil
}

func (s *limitSource) Close() {}

func (s *limitSource) runs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.limits...)
}

// A scrape asks a query whose top is pushed down for the target's N rows and stores them as
// partial; a gather for the advisor does not take them and reads every row; a full result
// fresh in the store serves the next scrape. A query whose top is not pushed down is always
// read whole.
func TestTopPushdown(t *testing.T) {
	pushed := &queries.Query{Name: "pushed", TTL: time.Minute, Top: &queries.Top{N: 2, By: "v", Pushdown: true}}
	plain := &queries.Query{Name: "plain", TTL: time.Minute, Top: &queries.Top{N: 2, By: "v"}}
	for _, tc := range []struct {
		q     *queries.Query
		topN  map[string]int
		limit int
	}{
		{pushed, nil, 2},
		{pushed, map[string]int{"pushed": 3}, 3},
		{plain, nil, -1},
	} {
		src := &limitSource{}
		target := &Target{Name: "t", Kind: "fake", Source: src, Timeout: time.Minute, Parallel: 1,
			Queries: []*queries.Query{tc.q}, TopN: tc.topN}
		e := NewEngine([]*Target{target}, slog.New(slog.DiscardHandler))
		ctx := context.Background()

		scrape := e.Gather(forScrape(ctx), target).Results[0]
		wantRows := 5
		if tc.limit > 0 {
			wantRows = tc.limit
		}
		if scrape.Err != nil || scrape.Rows.Len() != wantRows || scrape.Partial != (tc.limit > 0) {
			t.Errorf("%s, top_n %v: scrape: %d rows, partial %v, err %v; want %d rows", tc.q.Name, tc.topN, scrape.Rows.Len(), scrape.Partial, scrape.Err, wantRows)
		}
		full := e.Gather(ctx, target).Results[0]
		if full.Err != nil || full.Rows.Len() != 5 || full.Partial {
			t.Errorf("%s, top_n %v: advisor's gather: %d rows, partial %v, err %v; want 5 rows", tc.q.Name, tc.topN, full.Rows.Len(), full.Partial, full.Err)
		}
		again := e.Gather(forScrape(ctx), target).Results[0]
		if !again.Cached || again.Rows.Len() != 5 {
			t.Errorf("%s, top_n %v: the scrape after the full gather: cached %v, %d rows; want the full result", tc.q.Name, tc.topN, again.Cached, again.Rows.Len())
		}
		want := []int{tc.limit, -1}
		if tc.limit < 0 {
			want = []int{-1} // the full result of the first scrape served the advisor
		}
		if got := src.runs(); !equalInts(got, want) {
			t.Errorf("%s, top_n %v: runs with limits %v, want %v", tc.q.Name, tc.topN, got, want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
