// Package elasticsearch is the Elasticsearch source: it sends the GETs of query packs through
// Elastic's transport (elastic-transport-go: node pool, retries, auth) and turns the JSON
// answers into rows, as the pack's http body says.
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
	"sync/atomic"
	"time"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"

	"github.com/persistence-exporter/persistence_exporter/collector/jsonrows"
	"github.com/persistence-exporter/persistence_exporter/internal/lanes"
	"github.com/persistence-exporter/persistence_exporter/internal/secret"
	"github.com/persistence-exporter/persistence_exporter/internal/share"
	"github.com/persistence-exporter/persistence_exporter/internal/version"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// DefaultMaxBodyBytes caps one answer: a bigger one fails its query instead of the exporter's
// memory. Reading stops at the cap (an answer that announces a larger Content-Length is not
// read at all). Below the cap, the text is held whole while it is decoded and the decoded
// tree is four to five times its size, and the answers of a gather (of every target) are
// held at the same time: 8 MiB costs some 50 MiB per answer at worst. The default pack's
// answers stay well below it on a big cluster: /_nodes/stats through its filter_path is a
// few KiB per node, /_cat/shards about 100 bytes per shard copy (80,000 copies fit), a
// visibility mapping of 2,000 fields about 100 KiB. A target raises it with max_body_bytes.
const DefaultMaxBodyBytes = 8 << 20

// ErrorBodyCap is the most of an error answer's text (its reason, or its first bytes) that an
// error message carries, after the source's credentials are redacted from it.
const ErrorBodyCap = 200

// errorBodyRead is how much of an error answer is read; the connection is dropped when the
// answer is longer.
const errorBodyRead = 4096

// drainBytes is how much of an answer is read past its JSON value (a newline, the last
// chunk) so that the connection is kept for the next request; a longer tail drops it.
const drainBytes = 4096

// DefaultMaxConns is Options.MaxConns when it is not set.
const DefaultMaxConns = 2

// DefaultTimeout bounds a request whose query sets no timeout, when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options configure a source.
type Options struct {
	URLs     []string
	Username string
	Password string
	// APIKey is the base64 token Elasticsearch returns as "encoded", or "id:api_key".
	APIKey string
	// TLS is how the cluster's certificates are verified (nil: with the system's authorities).
	TLS *tls.Config
	// Lists fills the placeholders of http paths ({indices}, ...). A name that is set and
	// not empty is also reported as the feature feature:<name>, which queries can require.
	Lists map[string][]string
	// MaxConns (DefaultMaxConns when 0) caps the requests of queries in flight (to all nodes
	// together) and the connections kept to each node between scrapes. Requests to index
	// endpoints take at most MaxConns-1 of them (when MaxConns > 1), so that however many
	// hang, the cluster-level queries have a connection. The probe does not wait for them:
	// when they are all busy, it opens a connection of its own.
	MaxConns int
	// MaxBodyBytes caps the size of one answer (DefaultMaxBodyBytes when 0): reading stops
	// there, and the queries that read it fail saying so.
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
	client *client
	// lanes admit the requests of queries to the MaxConns connections of client
	lanes *lanes.Lanes
	// probe sends the probe's GET / when the queries' requests take every connection of
	// client: it has a connection of its own then, and never waits for them
	probe   *client
	red     *secret.Redactor  // the target's credentials, for error answers that echo them
	lists   map[string]string // placeholder -> comma-joined list
	feats   map[string]bool
	maxBody int64
	timeout time.Duration
	now     func() time.Time

	plans sync.Map // *HTTP -> *jsonrows.Plan, compiled once

	// The decoded answers are shared in the gather, by path (share.InGather): the queries
	// of one scrape that read the same endpoint (eight read /_nodes/stats) share one request.

	mu      sync.Mutex
	cluster string
	version int
}

// New builds the clients; it does not connect (a cluster that is down at start-up is only
// "down").
func New(opts Options) (*Source, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("no URLs")
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	client, err := newClient(opts, opts.MaxConns)
	if err != nil {
		return nil, err
	}
	probe, err := newClient(opts, 1)
	if err != nil {
		return nil, err
	}
	red := &secret.Redactor{}
	red.AddBasicAuth(opts.Username, opts.Password)
	red.AddAPIKey(opts.APIKey)
	for _, raw := range opts.URLs {
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			// the transport sends a URL's user information as basic auth
			if p, ok := u.User.Password(); ok {
				red.AddBasicAuth(u.User.Username(), p)
			}
		}
	}
	s := &Source{client: client, lanes: lanes.New(opts.MaxConns), probe: probe, red: red,
		lists: map[string]string{}, feats: map[string]bool{},
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

// userAgent names the exporter to the cluster (its logs, its slow log).
const userAgent = "persistence_exporter"

// errNotElasticsearch is the answer of a server whose first successful answer does not say
// X-Elastic-Product: Elasticsearch (a proxy's page, an OpenSearch cluster).
var errNotElasticsearch = errors.New("the server is not Elasticsearch: its answer has no X-Elastic-Product: Elasticsearch header")

// client sends requests through the transport and checks, until one answer passed, that the
// server is Elasticsearch: the check go-elasticsearch's client makes, without the typed API
// that comes with it.
type client struct {
	*elastictransport.Client
	genuine atomic.Bool
}

// Perform sends req; a successful answer that is not Elasticsearch's fails, until one was.
func (c *client) Perform(req *http.Request) (*http.Response, error) {
	res, err := c.Client.Perform(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 && !c.genuine.Load() {
		if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
			res.Body.Close()
			return nil, errNotElasticsearch
		}
		c.genuine.Store(true)
	}
	return res, nil
}

// newClient builds a client with at most conns connections to each node, kept between
// scrapes.
func newClient(opts Options, conns int) (*client, error) {
	urls := make([]*url.URL, 0, len(opts.URLs))
	for _, raw := range opts.URLs {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			// the error without the URL, which may hold a password
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err
			}
			return nil, fmt.Errorf("URL %d of %d: %w", len(urls)+1, len(opts.URLs), err)
		}
		urls = append(urls, u)
	}
	tr, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("the default HTTP transport is not an *http.Transport")
	}
	tr = tr.Clone()
	// MaxConnsPerHost caps the requests in flight to a node (a request waits for a free
	// connection); the idle ones are kept for the next scrape
	tr.MaxConnsPerHost = conns
	tr.MaxIdleConnsPerHost = conns
	if opts.TLS != nil {
		tr.TLSClientConfig = opts.TLS.Clone()
	}
	// The bodies are not drained on close: get reads what follows the JSON value (a newline,
	// the last chunk) itself, and drops the connection of an answer it stops reading (too
	// large, not JSON), so that the server stops sending. The transport sends a URL's user
	// information as basic auth.
	tOpts := []elastictransport.Option{elastictransport.WithURLs(urls...),
		elastictransport.WithTransport(tr), elastictransport.WithUserAgent(userAgent)}
	if len(opts.URLs) > 1 {
		// another node may answer what one could not; every request stays bounded by its
		// query's timeout through its context
		tOpts = append(tOpts, elastictransport.WithRetry(len(opts.URLs)-1),
			elastictransport.WithRetryOnError(retryOnError), elastictransport.WithRetryBackoff(retryBackoff))
	} else {
		tOpts = append(tOpts, elastictransport.WithDisableRetry())
	}
	switch {
	case opts.APIKey != "":
		key := opts.APIKey
		if strings.Contains(key, ":") {
			key = base64.StdEncoding.EncodeToString([]byte(key))
		}
		tOpts = append(tOpts, elastictransport.WithAPIKey(key))
	case opts.Username != "" || opts.Password != "":
		tOpts = append(tOpts, elastictransport.WithBasicAuth(opts.Username, opts.Password))
	}
	tp, err := elastictransport.NewClient(tOpts...)
	if err != nil {
		return nil, fmt.Errorf("creating the Elasticsearch client: %w", err)
	}
	return &client{Client: tp}, nil
}

// SchedulesQueries tells the engine that the source queues its requests itself (in lanes,
// see get): the engine hands it every query of a gather at once, so that a query waiting
// behind a hanging endpoint does not hold one of the gather's workers that queries on other
// endpoints need.
func (s *Source) SchedulesQueries() {}

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

// Probe asks GET / for the version and the cluster name: the answer serves the queries of
// the gather that read GET /.
func (s *Source) Probe(ctx context.Context) (queries.ServerInfo, error) {
	doc, err := s.probeRoot(ctx)
	if err != nil {
		return queries.ServerInfo{}, fmt.Errorf("probe: %w", err)
	}
	num, _ := jsonrows.Lookup(doc, []string{"version", "number"})
	numStr, _ := num.(string)
	v, err := version.Number(numStr)
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
	share.SetInGather(ctx, "/", doc)
	return queries.ServerInfo{Version: v, Features: feats}, nil
}

// probeRoot sends the probe's GET /. It never waits for the queries' requests: it takes a
// free slot of their lanes and one of their connections when there is one (so that a
// healthy cluster sees no more connections than MaxConns), else it goes through the
// probe's own client, on a connection of its own.
func (s *Source) probeRoot(ctx context.Context) (any, error) {
	if release, ok := s.lanes.TryAcquire(); ok {
		defer release()
		return s.fetch(ctx, s.client, "/")
	}
	return s.fetch(ctx, s.probe, "/")
}

// Run sends the body's GET (or takes the answer another query of this gather already got)
// and extracts its rows.
func (s *Source) Run(ctx context.Context, q *queries.Query, body queries.Body) (*queries.Rows, error) {
	h, _ := body.(*HTTP)
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
	doc, err := share.InGather(ctx, path, timeout, func(ctx context.Context) (any, error) {
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
func (s *Source) plan(q *queries.Query, h *HTTP) (*jsonrows.Plan, error) {
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

// get sends one GET of a query, in its lane, and decodes its JSON answer.
func (s *Source) get(ctx context.Context, path string) (any, error) {
	index := indexEndpoint(path)
	release, err := s.lanes.Acquire(ctx, index)
	if err != nil {
		if index {
			return nil, fmt.Errorf("GET %s: no connection for index requests came free (at most %d at a time; the earlier ones have not answered): %w",
				path, s.lanes.SlowSlots(), err)
		}
		return nil, fmt.Errorf("GET %s: no connection came free: %w", path, err)
	}
	defer release()
	return s.fetch(ctx, s.client, path)
}

// fetch sends one GET through client and decodes its JSON answer, reading at most maxBody
// bytes of it.
func (s *Source) fetch(ctx context.Context, c *client, path string) (any, error) {
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
	res, err := c.Perform(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: %w", path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		reason := s.errorReason(res.Body)
		res.Body.Close()
		return nil, fmt.Errorf("GET %s: %s%s", path, res.Status, reason)
	}
	if res.ContentLength > s.maxBody {
		res.Body.Close() // unread: the connection is dropped, and the server stops sending
		return nil, s.tooLarge(path, fmt.Sprintf("it announced %d bytes and was not read", res.ContentLength))
	}
	body := &capReader{r: res.Body, left: s.maxBody}
	doc, err := jsonrows.Decode(body, s.maxBody, "GET "+path)
	switch {
	case body.over:
		res.Body.Close()
		return nil, s.tooLarge(path, "reading stopped there")
	case err != nil:
		res.Body.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("GET %s: reading the answer: %w", path, context.Cause(ctx))
		}
		return nil, err
	}
	// the decoder stops at the end of the value: read the rest (a newline, the last chunk)
	// so that the connection is kept for the next request
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, drainBytes))
	res.Body.Close()
	return doc, nil
}

// tooLarge is the error of an answer larger than maxBody: it says the cap and how to raise
// it.
func (s *Source) tooLarge(path, what string) error {
	return fmt.Errorf("GET %s: the answer is larger than %d bytes, this target's max_body_bytes (%s): %s; raise max_body_bytes to accept it",
		path, s.maxBody, formatBytes(s.maxBody), what)
}

// formatBytes writes a size as the configuration takes it: 8MiB, 512KiB, 1000.
func formatBytes(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

// errTooLarge is what capReader answers past its cap.
var errTooLarge = errors.New("the answer is larger than the cap")

// capReader reads at most left bytes of r. Asked for more, it reads one byte to know whether
// there is more: then it fails with errTooLarge (and sets over). The JSON decoder only asks
// for more while its value is not complete, so an answer whose value ends at the cap passes.
type capReader struct {
	r    io.Reader
	left int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, errTooLarge
	}
	if c.left <= 0 {
		var one [1]byte
		if n, err := io.ReadAtLeast(c.r, one[:], 1); n == 0 {
			return 0, err
		}
		c.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// errorReason reads the reason of an Elasticsearch error answer, briefly: the target's
// credentials are redacted from it (a server may echo the request's headers) before it is
// cut to ErrorBodyCap, so that no cut leaves part of a secret.
func (s *Source) errorReason(body io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(body, errorBodyRead+1))
	more := len(b) > errorBodyRead
	if more {
		b = b[:errorBodyRead]
	}
	var e struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	if !more && json.Unmarshal(b, &e) == nil && e.Error.Type != "" {
		return ": " + s.red.Shorten(e.Error.Type+": "+e.Error.Reason, ErrorBodyCap, false)
	}
	if t := strings.TrimSpace(string(b)); t != "" {
		return ": " + s.red.Shorten(t, ErrorBodyCap, more)
	}
	return ""
}

// The lanes admit the requests of queries to the connections: a request to an index
// endpoint is slow work (see package lanes): however many index requests hang, the
// cluster-level requests (health, node stats, settings, ILM and SLM status) keep a
// connection. A request waits for its slots within its own timeout. The probe only takes a
// slot that is free (see probeRoot).

// indexCatAPIs are the cat APIs that take an index expression.
var indexCatAPIs = map[string]bool{"shards": true, "indices": true, "segments": true, "recovery": true, "count": true}

// indexEndpoint reports whether a request path reads indices: its first part is an index
// expression (/temporal_visibility_v1_*/_stats), or it is a cat API given one
// (/_cat/indices/temporal_visibility_v1_*). These fan out to the indices' shards or their
// metadata, and are the ones that hang when some indices do.
func indexEndpoint(path string) bool {
	p, _, _ := strings.Cut(path, "?")
	parts := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case parts[0] == "":
		return false
	case !strings.HasPrefix(parts[0], "_"):
		return true
	}
	return parts[0] == "_cat" && len(parts) >= 3 && indexCatAPIs[parts[1]]
}

// Close closes the clients and their idle connections.
func (s *Source) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.client.Close(ctx)
	_ = s.probe.Close(ctx)
}
