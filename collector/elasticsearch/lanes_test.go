package elasticsearch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
)

func TestIndexEndpoint(t *testing.T) {
	for path, want := range map[string]bool{
		"/":                false,
		"/_cluster/health": false,
		"/_cluster/settings?include_defaults=true":   false,
		"/_nodes/stats/jvm,os?filter_path=nodes.*":   false,
		"/_cat/shards?format=json":                   false,
		"/_cat/allocation?format=json":               false,
		"/_cat/snapshots/temporal-backups?format=js": false,
		"/_slm/policy/nightly-snapshots":             false,
		"/_ilm/status":                               false,
		"/temporal_visibility_v1_*/_stats/docs":      true,
		"/temporal_visibility_v1_*/_ilm/explain":     true,
		"/temporal_visibility_v1_*/_mapping":         true,
		"/_cat/shards/temporal_visibility_v1_*?h=x":  true,
		"/_cat/indices/temporal_visibility_v1_*":     true,
	} {
		if got := indexEndpoint(path); got != want {
			t.Errorf("indexEndpoint(%q) = %v, want %v", path, got, want)
		}
	}
}

// hangServer serves the replayed answers, except the paths of hang: those requests are
// announced on arrived and answered only when the test ends.
func hangServer(t *testing.T, hang ...string) (url string, arrived <-chan string) {
	t.Helper()
	replay := estest.New(t, "8.13", false)
	ch := make(chan string, 16)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range hang {
			if strings.HasPrefix(r.URL.Path, h) {
				ch <- r.URL.Path
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
		}
		replay.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: releases the handlers
	return srv.URL, ch
}

// The probe does not wait for a connection that hanging requests hold: with every connection
// of the queries taken by a request that does not answer, GET / still answers at once.
func TestProbeDoesNotQueueBehindHangingRequests(t *testing.T) {
	for _, tc := range []struct {
		conns int
		hang  []string
	}{
		{1, []string{"/_cluster/health"}},
		{2, []string{"/_cluster/health", "/temporal_visibility_v1_*/_stats"}},
		{4, []string{"/_cluster/health", "/_cat/allocation", "/_ilm/status", "/temporal_visibility_v1_*/_stats"}},
	} {
		t.Run(fmt.Sprintf("conns=%d", tc.conns), func(t *testing.T) {
			url, arrived := hangServer(t, tc.hang...)
			s, err := New(Options{URLs: []string{url}, MaxConns: tc.conns})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			for _, p := range tc.hang {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := s.get(ctx, p); !errors.Is(err, context.Canceled) {
						t.Errorf("GET %s: %v, want it cancelled", p, err)
					}
				}()
			}
			for range tc.hang {
				<-arrived // every connection of the queries is taken
			}
			pctx, pcancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer pcancel()
			if info, err := s.Probe(pctx); err != nil || info.Version != 81304 {
				t.Errorf("the probe behind %d hanging requests: %+v, %v", len(tc.hang), info, err)
			}
		})
	}
}
