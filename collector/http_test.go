package collector

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetricsGzip: /metrics is gzip-encoded for a client that accepts it, and decodes to
// the same exposition a client that does not gets; q=0 refuses gzip.
func TestMetricsGzip(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "gzip_test_total", Help: "A counter."})
	c.Add(42)
	reg.MustRegister(c)
	e := NewEngine(nil, slog.New(slog.DiscardHandler))
	h := e.MetricsHandler(HandlerOpts{Extra: reg})

	get := func(accept string) *http.Response {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
	body := func(r *http.Response) string {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	plain := get("")
	if enc := plain.Header.Get("Content-Encoding"); enc != "" {
		t.Errorf("without Accept-Encoding: Content-Encoding %q", enc)
	}
	want := body(plain)
	if !strings.Contains(want, "gzip_test_total 42") {
		t.Fatalf("exposition lacks the counter:\n%s", want)
	}
	for _, accept := range []string{"gzip", "deflate, gzip;q=0.5", "GZIP"} {
		r := get(accept)
		if enc := r.Header.Get("Content-Encoding"); enc != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want gzip", accept, enc)
			continue
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("Accept-Encoding %q: %v", accept, err)
		}
		if string(got) != want {
			t.Errorf("Accept-Encoding %q: decoded body differs:\n%s\nwant\n%s", accept, got, want)
		}
	}
	for _, accept := range []string{"gzip;q=0", "deflate", "identity"} {
		r := get(accept)
		if enc := r.Header.Get("Content-Encoding"); enc != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want none", accept, enc)
		}
		if got := body(r); got != want {
			t.Errorf("Accept-Encoding %q: body differs", accept)
		}
	}
}
