// Package elasticsearch is the Elasticsearch source: it sends the GETs of query packs through
// go-elasticsearch and turns the JSON answers into rows, as the pack's http body says.
package elasticsearch

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	es "github.com/elastic/go-elasticsearch/v8"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// DefaultMaxBodyBytes caps one answer: a bigger one fails its query instead of the exporter's
// memory. The decoded tree is several times the size of the text, and the queries of a
// gather hold theirs at the same time. The default pack's answers stay well below it on a
// big cluster: /_nodes/stats through its filter_path is a few KiB per node, /_cat/shards
// about 100 bytes per shard copy, a visibility mapping of 2,000 fields about 100 KiB.
const DefaultMaxBodyBytes = 32 << 20

// DefaultTimeout bounds a request whose query sets no timeout, when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a source.
type Options struct {
	URLs     []string
	Username string
	Password string
	// APIKey is the base64 token Elasticsearch returns as "encoded", or "id:api_key".
	APIKey string
	// CACert is PEM: the authorities that sign the cluster's certificates.
	CACert             []byte
	InsecureSkipVerify bool
	// Lists fills the placeholders of http paths ({indices}, ...). A name that is set and
	// not empty is also reported as the feature feature:<name>, which queries can require.
	Lists map[string][]string
	// MaxConns caps the connections to each node: the requests in flight, and the idle
	// connections kept between scrapes.
	MaxConns     int
	MaxBodyBytes int64
	// Timeout bounds the request of a query that sets no timeout of its own (the target's
	// query_timeout). A request that queries share runs on its own, under this bound, so
	// that one query giving up does not fail the others.
	Timeout time.Duration
	// Now is the clock of age computations (tests); time.Now when nil.
	Now func() time.Time
}

// Source runs queries on one Elasticsearch cluster.
type Source struct {
	client  *es.BaseClient
	lists   map[string]string // placeholder -> comma-joined list
	feats   map[string]bool
	maxBody int64
	timeout time.Duration
	now     func() time.Time

	plans sync.Map // *queries.HTTP -> *jsonrows.Plan, compiled once

	// answers holds the decoded answers of the current gather, by path: the queries of one
	// scrape that read the same endpoint (eight read /_nodes/stats) share one request. A
	// probe starts a gather, EndGather releases them.
	answers share.PerGather[any]

	mu      sync.Mutex
	cluster string
	version int
}

// New builds the client; it does not connect (a cluster that is down at start-up is only
// "down").
func New(opts Options) (*Source, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("no URLs")
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("the default HTTP transport is not an *http.Transport")
	}
	tr = tr.Clone()
	// MaxConnsPerHost caps the requests in flight to a node (a request waits for a free
	// connection); the idle ones are kept for the next scrape
	tr.MaxConnsPerHost = max(opts.MaxConns, 1)
	tr.MaxIdleConnsPerHost = tr.MaxConnsPerHost
	if opts.InsecureSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the operator asked for it
	}
	tOpts := []elastictransport.Option{elastictransport.WithTransport(tr)}
	if len(opts.URLs) > 1 {
		// another node may answer what one could not; every request stays bounded by its
		// query's timeout through its context
		tOpts = append(tOpts, elastictransport.WithRetry(len(opts.URLs)-1),
			elastictransport.WithRetryOnError(retryOnError), elastictransport.WithRetryBackoff(retryBackoff))
	} else {
		tOpts = append(tOpts, elastictransport.WithDisableRetry())
	}
	// Closing a body that is not read to its end discards the connection: the JSON decoder
	// stops at the end of the value, before the trailing newline (or the last chunk).
	// Draining on close keeps the connection for the next request.
	esOpts := []es.Option{es.WithAddresses(opts.URLs...), es.WithTransportOptions(tOpts...), es.WithAutoDrainBody()}
	switch {
	case opts.APIKey != "":
		key := opts.APIKey
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key))
		}
		esOpts = append(esOpts, es.WithAPIKey(key))
	case opts.Username != "" || opts.Password != "":
		esOpts = append(esOpts, es.WithBasicAuth(opts.Username, opts.Password))
	}
	if len(opts.CACert) > 0 {
		esOpts = append(esOpts, es.WithCACert(opts.CACert))
	}
	client, err := es.NewBase(esOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Elasticsearch client: %w", err)
	}
	s := &Source{client: client, lists: map[string]string{}, feats: map[string]bool{},
		maxBody: opts.MaxBodyBytes, timeout: opts.Timeout, now: opts.Now}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.now == nil {
		s.now = time.Now
	}
	for name, list := range opts.Lists {
		if len(list) > 0 {
			s.lists[name] = strings.Join(list, ",")
			s.feats["feature:"+name] = true
		}
	}
	return s, nil
}

// retryOnError lets the transport try the next node after an error, unless the request's
// own context is done: the transport marks every node a request fails on as dead, and the
// next one would fail at once on the expired context, so one slow query would mark the
// whole pool dead.
func retryOnError(req *http.Request, _ error) bool {
	return req.Context().Err() == nil
}

// retryBackoff spaces the attempts on the next nodes a little: a node that refuses
// connections is often one of several restarting.
func retryBackoff(attempt int) time.Duration {
	return min(time.Duration(attempt)*50*time.Millisecond, 200*time.Millisecond)
}

// Probe asks GET / for the version and the cluster name, and starts a new gather: the
// answer serves the queries of the gather that read GET /.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) {
	s.answers.Reset()
	doc, err := s.get(ctx, "/")
	if err != nil {
		return queries.ServerInfo{}, fmt.Errorf("probe: %w", err)
	}
	num, _ := jsonrows.Lookup(doc, []string{"version", "number"})
	numStr, _ := num.(string)
	v, err := ParseVersion(numStr)
	if err != nil {
		return queries.ServerInfo{}, fmt.Errorf("probe: GET / answered no version Elasticsearch: %w", err)
	}
	name, _ := jsonrows.Lookup(doc, []string{"cluster_name"})
	cluster, _ := name.(string)
	feats := make(map[string]string, len(s.feats))
	for k := range s.feats {
		feats[k] = ""
	}
	s.mu.Lock()
	s.cluster, s.version = cluster, v
	s.mu.Unlock()
	s.answers.Set("/", doc)
	return queries.ServerInfo{Version: v, Features: feats}, nil
}

// EndGather releases the answers of the gather: they are not kept between scrapes (nor
// while the cluster is down).
func (s *Source) EndGather() { s.answers.End() }

// ParseVersion turns "8.13.4" (or "7.17.0-SNAPSHOT") into 81304: major*10000+minor*100+patch.
func ParseVersion(s string) (int, error) {
	core, _, _ := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, fmt.Errorf("cannot read version %q", s)
	}
	v := 0
	for i, mult := range []int{10000, 100, 1} {
		if i >= len(parts) {
			break
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || (i > 0 && n > 99) {
			return 0, fmt.Errorf("cannot read version %q", s)
		}
		v += n * mult
	}
	return v, nil
}

// Run sends the body's GET (or takes the answer another query of this gather already got)
// and extracts its rows.
func (s *Source) Run(ctx context.Context, q *queries.Query, body *queries.Body) (*queries.Rows, error) {
	h := body.HTTP
	if h == nil {
		return nil, fmt.Errorf("query %q has no http body", q.Name)
	}
	p, err := s.plan(q, h)
	if err != nil {
		return nil, err
	}
	path, err := s.expand(h.Path)
	if err != nil {
		return nil, err
	}
	timeout := q.Timeout
	if timeout <= 0 {
		timeout = s.timeout
	}
	// The engine gives the query the same timeout: the request ends a little earlier, so that
	// its own error (no answer, an answer stalled halfway) reaches the queries waiting for it
	// rather than their bare deadline.
	timeout -= timeout / 20
	doc, err := s.answers.Do(ctx, path, timeout, func(ctx context.Context) (any, error) {
		return s.get(ctx, path)
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	e := jsonrows.Env{Cluster: s.cluster, Version: s.version, Now: s.now()}
	s.mu.Unlock()
	return p.Extract(doc, e)
}

// plan compiles an http body for its query once.
func (s *Source) plan(q *queries.Query, h *queries.HTTP) (*jsonrows.Plan, error) {
	if p, ok := s.plans.Load(h); ok {
		return p.(*jsonrows.Plan), nil
	}
	p, err := jsonrows.Compile(q, &h.JSON)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", q.Name, err)
	}
	actual, _ := s.plans.LoadOrStore(h, p)
	return actual.(*jsonrows.Plan), nil
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// expand fills the placeholders of a path.
func (s *Source) expand(path string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(path, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := s.lists[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("the path %s needs %s, which this target does not configure (require feature:%s to skip the query instead)",
			path, strings.Join(missing, ", "), missing[0])
	}
	return out, nil
}

// get sends one GET and decodes its JSON answer.
func (s *Source) get(ctx context.Context, path string) (any, error) {
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	// the cat APIs answer JSON when asked so, as every other API does anyway
	req.Header.Set("Accept", "application/json")
	res, err := s.client.Perform(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: %w", path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return nil, fmt.Errorf("GET %s: %s%s", path, res.Status, errorReason(res.Body))
	}
	doc, err := jsonrows.Decode(res.Body, s.maxBody, "GET "+path)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("GET %s: reading the answer: %w", path, context.Cause(ctx))
	}
	return doc, err
}

// errorReason reads the reason of an Elasticsearch error answer, briefly.
func errorReason(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, 4096))
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Type != "" {
		return fmt.Sprintf(": %s: %s", e.Error.Type, e.Error.Reason)
	}
	if t := strings.TrimSpace(string(b)); t != "" {
		if len(t) > 200 {
			t = t[:200] + "..."
		}
		return ": " + t
	}
	return ""
}

// Close closes the client and its idle connections.
func (s *Source) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.client.Close(ctx)
}
