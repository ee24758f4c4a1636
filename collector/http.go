package collector

import (
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HandlerOpts sets how scrapes are served.
type HandlerOpts struct {
	// Extra is gathered along with the targets on /metrics (process, Go and build metrics).
	Extra prometheus.Gatherer
	// TimeoutOffset is taken off Prometheus' X-Prometheus-Scrape-Timeout-Seconds, so that the
	// answer is written before Prometheus gives up.
	TimeoutOffset time.Duration
	// DefaultTimeout bounds a scrape that does not send the header (curl, a browser).
	DefaultTimeout time.Duration
	// ErrorLog receives errors of the exposition itself.
	ErrorLog promhttp.Logger
}

// scrapeTimeout reads the scrape deadline Prometheus announces in the request header.
func scrapeTimeout(r *http.Request, opts HandlerOpts) time.Duration {
	timeout := opts.DefaultTimeout
	if h := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); h != "" {
		if s, err := strconv.ParseFloat(h, 64); err == nil && s > 0 {
			timeout = time.Duration(s * float64(time.Second))
		}
	}
	if timeout > 2*opts.TimeoutOffset {
		timeout -= opts.TimeoutOffset
	}
	return timeout
}

func (e *Engine) serve(w http.ResponseWriter, r *http.Request, opts HandlerOpts, targets []*Target, withTarget bool, extra prometheus.Gatherer) {
	ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout(r, opts))
	defer cancel()
	g := &scrapeGatherer{ctx: ctx, engine: e, targets: targets, withTarget: withTarget, extra: extra}
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:           opts.ErrorLog,
		ErrorHandling:      promhttp.ContinueOnError,
		DisableCompression: true, // compressed here, faster
	})
	if !acceptsGzip(r) {
		h.ServeHTTP(w, r)
		return
	}
	gw := &gzipWriter{ResponseWriter: w}
	defer gw.close()
	h.ServeHTTP(gw, r)
}

// Scrapes are compressed at gzip's best speed, not at its default level as promhttp does: on
// a large exposition (tens of thousands of series) the default level costs several times the
// CPU for an answer about a fifth smaller, and the answer crosses a LAN once.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// acceptsGzip reports whether the request accepts a gzip-encoded answer (and does not refuse
// it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, h := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(h, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// gzipWriter compresses a successful response whose handler left it uncompressed; the
// encoding is decided when the header is written, and an error answer goes out as it is.
type gzipWriter struct {
	http.ResponseWriter
	gz      *gzip.Writer
	started bool
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.started {
		return
	}
	w.started = true
	h := w.ResponseWriter.Header()
	h.Add("Vary", "Accept-Encoding")
	if code == http.StatusOK && h.Get("Content-Encoding") == "" {
		h.Set("Content-Encoding", "gzip")
		h.Del("Content-Length")
		w.gz = gzipWriters.Get().(*gzip.Writer)
		w.gz.Reset(w.ResponseWriter)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	if w.gz == nil {
		return w.ResponseWriter.Write(p)
	}
	return w.gz.Write(p)
}

func (w *gzipWriter) close() {
	if w.gz != nil {
		_ = w.gz.Close()
		w.gz.Reset(nil)
		gzipWriters.Put(w.gz)
		w.gz = nil
	}
}

// MetricsHandler serves every target, each series labelled with target.
func (e *Engine) MetricsHandler(opts HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.serve(w, r, opts, e.Targets, true, opts.Extra)
	})
}

// ProbeHandler serves the one target named by ?target=, without the target label: the
// multi-target pattern, where Prometheus relabels the target into instance.
func (e *Engine) ProbeHandler(opts HandlerOpts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("target")
		if name == "" {
			http.Error(w, "the target parameter is missing", http.StatusBadRequest)
			return
		}
		t := e.Target(name)
		if t == nil {
			http.Error(w, fmt.Sprintf("unknown target %q", name), http.StatusNotFound)
			return
		}
		e.serve(w, r, opts, []*Target{t}, false, nil)
	})
}
