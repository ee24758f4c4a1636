package collector

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
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
	promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:      opts.ErrorLog,
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
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
