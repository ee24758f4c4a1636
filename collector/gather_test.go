package collector

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// docSource is a source whose queries all read one document, which it fetches once per
// gather (share.InGather), as the Elasticsearch and pgBackRest sources do. The query named
// by hold waits for gate, before it reads the document, in the first gather only.
type docSource struct {
	fetches atomic.Int32
	hold    string
	gate    chan struct{}
	first   atomic.Pointer[share.Gather]
}

func (s *docSource) Probe(ctx context.Context) (queries.ServerInfo, error) {
	s.first.CompareAndSwap(nil, share.GatherOf(ctx))
	return queries.ServerInfo{Version: 1}, nil
}

func (s *docSource) Run(ctx context.Context, q *queries.Query, _ queries.Body) (*queries.Rows, error) {
	if q.Name == s.hold && share.GatherOf(ctx) == s.first.Load() {
		<-s.gate
	}
	n, err := share.InGather(ctx, "doc", time.Second, func(context.Context) (int64, error) {
		return int64(s.fetches.Add(1)), nil
	})
	if err != nil {
		return nil, err
	}
	return &queries.Rows{Columns: []string{"v"}, Values: [][]any{{n}}}, nil
}

func (s *docSource) Close() {}

// Two gathers of one target that overlap (an advisor run and a scrape) each fetch the
// document once: the second gather's probe does not clear the first one's document, and
// neither gather's end clears the other's.
func TestOverlappingGathersKeepTheirOwnCache(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &docSource{hold: "b", gate: make(chan struct{})}
		target := &Target{Name: "t", Kind: "fake", Source: src, Timeout: time.Minute, Parallel: 1,
			Queries: []*queries.Query{{Name: "a"}, {Name: "b"}}}
		e := NewEngine([]*Target{target}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		advisor := make(chan *Snapshot)
		go func() { advisor <- e.Gather(context.Background(), target) }()
		// the advisor's gather has read the document for a and waits in b
		synctest.Wait()
		if n := src.fetches.Load(); n != 1 {
			t.Fatalf("%d fetches in the first gather's first query, want 1", n)
		}
		scrape := make(chan *Snapshot)
		go func() { scrape <- e.Gather(context.Background(), target) }()
		// the scrape has read the document for a in its own gather, and joined the
		// execution of b under way
		synctest.Wait()
		if n := src.fetches.Load(); n != 2 {
			t.Fatalf("%d fetches once the scrape read a, want 2 (one per gather)", n)
		}
		close(src.gate)
		for _, ch := range []chan *Snapshot{advisor, scrape} {
			snap := <-ch
			if snap.Failed() {
				t.Fatalf("gather failed: %+v", snap)
			}
			// b read the advisor's document, fetched for a before the scrape began
			if got := snap.Results[1].Rows.Values[0][0]; got != int64(1) {
				t.Errorf("b read the document of fetch %v, want the first gather's, 1", got)
			}
		}
		if n := src.fetches.Load(); n != 2 {
			t.Errorf("%d fetches for two gathers, want 2: a gather's cache was cleared by the other", n)
		}
	})
}
