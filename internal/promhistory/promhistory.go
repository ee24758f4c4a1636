// Package promhistory reads the advisor's history from Prometheus: the windows of its
// windowed checks (increase and rate over a range, range samples) from Prometheus' HTTP API,
// and forecasts fitted on those samples. It knows nothing of the checks; they ask it for
// what they would otherwise keep in memory.
package promhistory

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Config is advisor.prometheus: where the Prometheus that scrapes the exporter answers, and
// how to reach it (TLS, basic auth, bearer token and the rest, as in Prometheus' own
// configuration). The advisor reads history from it when URL is set.
type Config struct {
	URL string `yaml:"url"`
	// Timeout bounds the reads of one advisor run (all its queries together).
	Timeout time.Duration           `yaml:"timeout"`
	HTTP    config.HTTPClientConfig `yaml:",inline"`
}

// DefaultTimeout is how long the reads of one advisor run may take unless configured.
const DefaultTimeout = 10 * time.Second

// DefaultConfig is no Prometheus, with Prometheus' own client defaults for when one is set.
func DefaultConfig() Config {
	return Config{HTTP: config.DefaultHTTPClientConfig, Timeout: DefaultTimeout}
}

// Enabled says whether a Prometheus is configured.
func (c Config) Enabled() bool { return c.URL != "" }

// Validate checks a configured Prometheus: an absolute http(s) URL and a valid client
// configuration (one way to authenticate, files that go together).
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want an http or https URL such as http://prometheus:9090", c.URL)
	}
	if u.User != nil {
		return errors.New("url: put credentials in basic_auth, not in the URL")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("timeout must be positive, not %s", c.Timeout)
	}
	return c.HTTP.Validate()
}

// Secrets are the credentials written in the configuration itself, for redaction.
func (c Config) Secrets() []string {
	var out []string
	add := func(s config.Secret) {
		if s != "" {
			out = append(out, string(s))
		}
	}
	if b := c.HTTP.BasicAuth; b != nil {
		add(b.Password)
	}
	if a := c.HTTP.Authorization; a != nil {
		add(a.Credentials)
	}
	add(c.HTTP.BearerToken)
	if o := c.HTTP.OAuth2; o != nil {
		add(o.ClientSecret)
	}
	return out
}

// Client reads from one Prometheus.
type Client struct {
	api v1.API
}

// New makes a client; nothing is sent until a read.
func New(c Config) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	hc, err := config.NewClientFromConfig(c.HTTP, "persistence_exporter_advisor")
	if err != nil {
		return nil, err
	}
	ac, err := api.NewClient(api.Config{Address: c.URL, Client: hc})
	if err != nil {
		return nil, err
	}
	return &Client{api: v1.NewAPI(ac)}, nil
}

// Sample is one value of a series at a time.
type Sample struct {
	At    time.Time
	Value float64
}

// Series is the samples of one series, oldest first.
type Series struct {
	// Name is the series as PromQL prints it: metric{label="value", ...}.
	Name    string
	Labels  map[string]string
	Samples []Sample
}

// Value is one series' value at one time: an instant query's answer.
type Value struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// Range reads the samples of expr from from to to, every step (Prometheus' query_range).
func (c *Client) Range(ctx context.Context, expr string, from, to time.Time, step time.Duration) ([]Series, error) {
	v, _, _, err := c.api.QueryRange(ctx, expr, v1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return nil, fmt.Errorf("prometheus: %s: %w", expr, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("prometheus: %s: a %s, want a matrix", expr, v.Type())
	}
	out := make([]Series, 0, len(m))
	for _, s := range m {
		ser := Series{Name: s.Metric.String(), Labels: labelMap(s.Metric), Samples: make([]Sample, len(s.Values))}
		for i, p := range s.Values {
			ser.Samples[i] = Sample{At: p.Timestamp.Time(), Value: float64(p.Value)}
		}
		out = append(out, ser)
	}
	return out, nil
}

// Increase is increase(selector[window]) at at: how much each counter grew over the window
// that ends then.
func (c *Client) Increase(ctx context.Context, selector string, window time.Duration, at time.Time) ([]Value, error) {
	return c.instant(ctx, fmt.Sprintf("increase(%s[%s])", selector, model.Duration(window)), at)
}

// Rate is rate(selector[window]) at at: each counter's growth per second over the window.
func (c *Client) Rate(ctx context.Context, selector string, window time.Duration, at time.Time) ([]Value, error) {
	return c.instant(ctx, fmt.Sprintf("rate(%s[%s])", selector, model.Duration(window)), at)
}

// Query evaluates expr at at (an instant query): one value per series of the answer.
func (c *Client) Query(ctx context.Context, expr string, at time.Time) ([]Value, error) {
	return c.instant(ctx, expr, at)
}

func (c *Client) instant(ctx context.Context, expr string, at time.Time) ([]Value, error) {
	v, _, _, err := c.api.Query(ctx, expr, at)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %s: %w", expr, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("prometheus: %s: a %s, want a vector", expr, v.Type())
	}
	out := make([]Value, len(vec))
	for i, s := range vec {
		out[i] = Value{Name: s.Metric.String(), Labels: labelMap(s.Metric), Value: float64(s.Value)}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func labelMap(m model.Metric) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[string(k)] = string(v)
	}
	return out
}
