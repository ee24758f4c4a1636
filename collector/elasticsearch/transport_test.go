package elasticsearch

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
)

// A request that times out on a node that hangs marks that node dead, and only that one: the
// transport does not go on to the next node with the expired context (which would fail at
// once and mark it dead too), and the next requests go to the node that answers.
func TestSlowNodeLeavesThePoolAlive(t *testing.T) {
	slow := estest.New(t, "8.13", false)
	for _, r := range estest.Routes {
		slow.Fail(r.Name, estest.Hang)
	}
	fast := estest.New(t, "8.13", false)
	s, err := New(Options{URLs: []string{slow.URL, fast.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tr := s.client.Client
	// the nodes take requests in turn: ask until the hanging one has had one
	for i := 0; slow.Requests("cluster_health") == 0; i++ {
		if i == 4 {
			t.Fatal("the hanging node got no request")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, _ = s.get(ctx, "/_cluster/health")
		cancel()
	}
	live := tr.URLs()
	if len(live) != 1 || live[0].String() != fast.URL {
		t.Errorf("live nodes %v, want only %s (the hanging node is %s)", live, fast.URL, slow.URL)
	}
	before := fast.Requests("cluster_health")
	for range 2 {
		if _, err := s.get(t.Context(), "/_cluster/health"); err != nil {
			t.Errorf("after the timeout: %v", err)
		}
	}
	if n := fast.Requests("cluster_health") - before; n != 2 {
		t.Errorf("the answering node got %d of the next 2 requests", n)
	}
}

func TestRetryOnError(t *testing.T) {
	live, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(live, http.MethodGet, "http://x/", nil)
	if !retryOnError(req, errors.New("connection refused")) {
		t.Error("a refused connection is not retried on the next node")
	}
	cancel()
	if retryOnError(req, context.Canceled) {
		t.Error("a request whose context is done is retried")
	}
}

// MaxConns caps the requests in flight to a node, not only the idle connections kept.
func TestMaxConnsCapsRequestsInFlight(t *testing.T) {
	srv := estest.New(t, "8.13", false)
	srv.Fail("cluster_health", estest.Slow) // each answer waits: the requests overlap
	s, err := New(Options{URLs: []string{srv.URL}, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.get(t.Context(), "/_cluster/health"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := srv.MostInFlight(); n > 2 {
		t.Errorf("%d requests in flight at once, want at most 2", n)
	}
	if n := srv.Conns(); n > 2 {
		t.Errorf("%d connections opened, want at most 2", n)
	}
}
