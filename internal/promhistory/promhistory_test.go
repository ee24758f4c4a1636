package promhistory

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// clockTarget serves, at each scrape, a gauge that is the Unix time of the scrape and a
// counter that grows by exactly 5 a second: series whose every sample and rate are known.
func clockTarget(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		now := float64(time.Now().UnixNano()) / 1e9
		fmt.Fprintf(w, "# TYPE clock_seconds gauge\nclock_seconds %f\n# TYPE work_total counter\nwork_total %f\n", now, 5*(now-1.7e9))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWindowFromPrometheus has a real Prometheus scrape clockTarget every second, then reads
// its windows through Client and checks them against what was served, with the client
// authenticating as configured.
func TestWindowFromPrometheus(t *testing.T) {
	target := clockTarget(t)
	p := testenv.StartPrometheus(t, fmt.Sprintf(`global: {scrape_interval: 1s}
scrape_configs:
  - job_name: clock
    static_configs: [{targets: [%q]}]
`, strings.TrimPrefix(target.URL, "http://")))
	// the client goes through a proxy that wants the configured bearer token
	const token = "history-token"
	var unauthorized atomic.Int32
	upstream, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	forward := httputil.NewSingleHostReverseProxy(upstream)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			unauthorized.Add(1)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		forward.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	cfg := DefaultConfig()
	cfg.URL = proxy.URL
	cfg.HTTP.BearerToken = token
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	// wait for 8 scrapes
	p.WaitQuery(t, `count_over_time(clock_seconds[1m]) >= 8`, 60*time.Second, func(v model.Vector) bool { return len(v) == 1 })
	ctx := context.Background()
	to := time.Now().Truncate(time.Second) // Prometheus keeps milliseconds
	from := to.Add(-30 * time.Second)
	series, err := c.Range(ctx, `clock_seconds{job="clock"}`, from, to, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 1 || len(series[0].Samples) < 5 {
		t.Fatalf("range: %+v, want one series of at least 5 samples", series)
	}
	s := series[0]
	if s.Labels["job"] != "clock" || !strings.HasPrefix(s.Name, `clock_seconds{`) {
		t.Errorf("series %q %v", s.Name, s.Labels)
	}
	for _, smp := range s.Samples {
		// each sample is the time its scrape was answered, stamped by Prometheus when the
		// scrape started, and held until the next scrape: within the interval of its time
		if d := smp.At.Sub(time.Unix(0, int64(smp.Value*1e9))); d < -time.Second/2 || d > 1500*time.Millisecond {
			t.Errorf("sample at %s has %f: %s off", smp.At, smp.Value, d)
		}
		if smp.At.Before(from) || smp.At.After(to) {
			t.Errorf("sample at %s is outside the window %s to %s", smp.At, from, to)
		}
	}
	// a clock grows one second a second: the forecast says so. The target is two minutes
	// ahead, not an hour: scrapes that a loaded machine delays bend the fitted slope a
	// little, and a farther target multiplies that error (0.1 % is 3.6 s an hour ahead).
	f, ok := Fit(s, float64(to.Unix()+120))
	if !ok || math.Abs(f.Slope-1) > 0.05 || f.Reaches.Sub(to.Add(2*time.Minute)).Abs() > 5*time.Second {
		t.Errorf("forecast of a clock: %+v, %v; want slope 1 and two minutes from now", f, ok)
	}

	// the counter grows by 5 a second: its rate over the window is 5, its increase 5 a second
	rates, err := c.Rate(ctx, `work_total{job="clock"}`, 5*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 1 || math.Abs(rates[0].Value-5) > 0.5 {
		t.Errorf("rate: %+v, want 5/s", rates)
	}
	inc, err := c.Increase(ctx, `work_total{job="clock"}`, 5*time.Second, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(inc) != 1 || math.Abs(inc[0].Value-25) > 3 {
		t.Errorf("increase over 5s: %+v, want 25", inc)
	}
	if n := unauthorized.Load(); n != 0 {
		t.Errorf("%d requests without the bearer token", n)
	}

	// a wrong token is an error that says where, without the token
	cfg.HTTP.BearerToken = "wrong"
	bad, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Rate(ctx, `work_total`, time.Minute, time.Now())
	if err == nil || !strings.Contains(err.Error(), "rate(work_total[1m])") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("error with a wrong token: %v", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		want string // "" for valid
	}{
		{"unset", func(*Config) {}, ""},
		{"plain", func(c *Config) { c.URL = "http://prometheus:9090" }, ""},
		{"relative", func(c *Config) { c.URL = "prometheus:9090" }, `url "prometheus:9090": want an http or https URL`},
		{"credentials in url", func(c *Config) { c.URL = "http://u:p@prometheus:9090" }, "put credentials in basic_auth"},
		{"two ways to authenticate", func(c *Config) {
			c.URL = "https://prometheus"
			c.HTTP.BearerToken = "a"
			c.HTTP.BasicAuth = &config.BasicAuth{Username: "u", Password: "p"}
		}, "at most one of basic_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.cfg(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Validate: %v, want %q", err, tc.want)
			}
		})
	}
}
