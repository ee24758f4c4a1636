// Package estest replays recorded Elasticsearch answers from an httptest server, for tests:
// no Elasticsearch can run where the tests do. The answers are the files of a directory of
// testdata/elasticsearch (one per version); faults (500, a hang, truncated JSON) can be set per
// route, and the server can ask for basic auth or an API key and serve TLS.
package estest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testcert"
)

// Route is an API the server answers: the file it replays for paths that match.
type Route struct {
	Name string
	Re   *regexp.Regexp
	File string
	// Query is the query string the default pack sends, parameter by parameter. A request
	// whose parameters differ (one missing, one more, another value) is answered 400, as
	// Elasticsearch answers a parameter it does not know, so that a wrong request fails its
	// query. filter_path and h are applied to the answer as Elasticsearch applies them: a
	// field the pack reads but did not ask for is missing.
	Query map[string]string
}

// AnyFilter, as the filter_path of Route.Query, requires a filter_path, of any value (the
// answer shows whether it selects what the queries read).
const AnyFilter = "(any filter_path, applied)"

// cat is the query string of a cat API that answers the columns h.
func cat(h string, bytes bool) map[string]string {
	q := map[string]string{"format": "json", "h": h}
	if bytes {
		q["bytes"] = "b"
	}
	return q
}

// Routes are the APIs the default pack reads. An index expression is any path part that does
// not start with _.
var Routes = []Route{
	{"root", regexp.MustCompile(`^/$`), "root.json", nil},
	{"cluster_health", regexp.MustCompile(`^/_cluster/health$`), "cluster_health.json", nil},
	{"cluster_settings", regexp.MustCompile(`^/_cluster/settings$`), "cluster_settings.json",
		map[string]string{"include_defaults": "true", "filter_path": AnyFilter}},
	{"nodes_stats", regexp.MustCompile(`^/_nodes/stats(/[^/]+){0,2}$`), "nodes_stats.json", map[string]string{"filter_path": AnyFilter}},
	{"health_report", regexp.MustCompile(`^/_health_report$`), "health_report.json", map[string]string{"verbose": "false"}},
	{"ilm_status", regexp.MustCompile(`^/_ilm/status$`), "ilm_status.json", nil},
	{"ilm_explain", regexp.MustCompile(`^/[^_/][^/]*/_ilm/explain$`), "ilm_explain.json", nil},
	{"indices_stats", regexp.MustCompile(`^/[^_/][^/]*/_stats(/[^/]+)?$`), "indices_stats.json", map[string]string{"level": "indices"}},
	{"mappings", regexp.MustCompile(`^/[^_/][^/]*/_mappings?$`), "mappings.json", nil},
	{"index_settings", regexp.MustCompile(`^/[^_/][^/]*/_settings(/[^/]+)?$`), "index_settings.json", map[string]string{"include_defaults": "true"}},
	{"cat_shards", regexp.MustCompile(`^/_cat/shards$`), "cat_shards.json", cat("index,shard,prirep,state,node,unassigned.reason", true)},
	{"cat_shards_indices", regexp.MustCompile(`^/_cat/shards/[^_/][^/]*$`), "cat_shards_indices.json", cat("index,shard,prirep,state", false)},
	{"cat_indices", regexp.MustCompile(`^/_cat/indices/[^_/][^/]*$`), "cat_indices.json", cat("index,health,status,pri,rep", false)},
	{"cat_allocation", regexp.MustCompile(`^/_cat/allocation$`), "cat_allocation.json",
		cat("node,host,shards,disk.indices,disk.used,disk.avail,disk.total", true)},
	{"slm_policy", regexp.MustCompile(`^/_slm/policy/[^/]+$`), "slm_policy.json", nil},
	{"slm_status", regexp.MustCompile(`^/_slm/status$`), "slm_status.json", nil},
	{"cat_snapshots", regexp.MustCompile(`^/_cat/snapshots/[^/]+$`), "cat_snapshots.json", cat("id,repository,status,start_epoch,end_epoch", false)},
}

// Fault is what a route does instead of answering.
type Fault int

// Faults.
const (
	OK Fault = iota
	// Status500 answers 500 with an Elasticsearch error body.
	Status500
	// Hang answers nothing until the client gives up.
	Hang
	// Truncate sends the first half of the answer.
	Truncate
	// NotElasticsearch answers without the X-Elastic-Product header.
	NotElasticsearch
	// Stall sends the headers and half the answer, then nothing until the client gives up.
	Stall
	// Slow answers after 200 ms, so that concurrent requests are in flight together.
	Slow
)

// Server is a replaying fake Elasticsearch.
type Server struct {
	*httptest.Server
	dir string

	mu       sync.Mutex
	faults   map[string]Fault
	bodies   map[string][]byte // answers that replace a route's file
	requests map[string]int
	conns    int // connections accepted
	inFlight int
	most     int // most requests in flight at once
	user     string
	password string
	apiKey   string
	clock    func() time.Time // Live's clock; nil replays the files as they are
	live     *live

	stop      chan struct{}
	closeOnce sync.Once
}

// Option configures a server.
type Option func(*Server)

// WithBasicAuth makes the server require these credentials.
func WithBasicAuth(user, password string) Option {
	return func(s *Server) { s.user, s.password = user, password }
}

// WithAPIKey makes the server require "Authorization: ApiKey <encoded>".
func WithAPIKey(encoded string) Option {
	return func(s *Server) { s.apiKey = encoded }
}

// Dir returns the fixture directory of a version ("7.17", "8.13"), from a test in any package
// of the module.
func Dir(t testing.TB, version string) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "testdata", "elasticsearch", version)
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", wd)
		}
	}
}

// New starts a server replaying the answers of version ("7.17", "8.13"); tls serves HTTPS
// with httptest's certificate (CACert gives it as PEM). The test's end closes it.
func New(t testing.TB, version string, tls bool, opts ...Option) *Server {
	t.Helper()
	s, err := Start(Dir(t, version), tls, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a server replaying the answers in dir, outside a test (the sandbox of `make
// demo`); Close stops it.
func Start(dir string, tls bool, opts ...Option) (*Server, error) {
	if _, err := os.Stat(filepath.Join(dir, "root.json")); err != nil {
		return nil, fmt.Errorf("estest: no recorded answers in %s: %w", dir, err)
	}
	s := &Server{dir: dir, faults: map[string]Fault{}, bodies: map[string][]byte{}, requests: map[string]int{},
		stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.clock != nil {
		var err error
		if s.live, err = newLive(dir, s.clock); err != nil {
			return nil, err
		}
	}
	s.Server = httptest.NewUnstartedServer(s)
	// a client that refuses the certificate is a case under test, not noise
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	if tls {
		s.StartTLS()
	} else {
		s.Server.Start()
	}
	return s, nil
}

// Close releases the handlers that hang or stall, then stops the server.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.stop) })
	s.Server.Close()
}

// Fail sets the fault of a route (by Route.Name); OK clears it.
func (s *Server) Fail(route string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = f
}

// Answer makes a route answer body instead of its file (the cluster a while later, say); nil
// goes back to the file.
func (s *Server) Answer(route string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == nil {
		delete(s.bodies, route)
		return
	}
	s.bodies[route] = body
}

// Requests returns how many requests a route received.
func (s *Server) Requests(route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[route]
}

// Conns returns how many connections the server accepted: a client that keeps its
// connections alive opens no more than it has requests in flight at once.
func (s *Server) Conns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// MostInFlight returns the most requests the server was answering at the same time.
func (s *Server) MostInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.most
}

// CACert returns the PEM of the TLS server's certificate, its own CA.
func (s *Server) CACert() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

// OtherCA returns the PEM of a new self-signed CA that signed nothing the servers present: a
// client that trusts only it must refuse them.
func OtherCA(t testing.TB) []byte {
	t.Helper()
	_, _, ca := testcert.SelfSigned(t, t.TempDir(), "estest-other-ca")
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if !s.authorized(r) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "security_exception", "unable to authenticate user for REST request ["+r.URL.Path+"]")
		return
	}
	var route *Route
	for i := range Routes {
		if Routes[i].Re.MatchString(r.URL.Path) {
			route = &Routes[i]
			break
		}
	}
	if route == nil || r.Method != http.MethodGet {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s]", r.URL.Path, r.Method))
		return
	}
	s.mu.Lock()
	s.requests[route.Name]++
	fault := s.faults[route.Name]
	answer, answerSet := s.bodies[route.Name]
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if fault != NotElasticsearch {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}
	body, err := os.ReadFile(filepath.Join(s.dir, route.File))
	if answerSet {
		body, err = answer, nil
	}
	if err != nil {
		// this version has no such API (7.17 and /_health_report)
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [GET]", r.URL.Path))
		return
	}
	if msg := checkQuery(route, r.URL.Query()); msg != "" {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", msg)
		return
	}
	if s.live != nil {
		if body, err = s.live.move(body); err != nil {
			writeError(w, http.StatusInternalServerError, "exception", err.Error())
			return
		}
	}
	if body, err = shape(body, r.URL.Query()); err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	switch fault {
	case Status500:
		writeError(w, http.StatusInternalServerError, "exception", "replayed failure of "+route.Name)
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
	case Truncate:
		_, _ = w.Write(body[:len(body)/2])
	case Slow:
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
		case <-s.stop:
		}
		_, _ = w.Write(body)
	case Stall:
		_, _ = w.Write(body[:len(body)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
	default:
		_, _ = w.Write(body)
	}
}

func (s *Server) authorized(r *http.Request) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	switch {
	case s.apiKey != "":
		// the scheme is case-insensitive: Elastic's transport sends "APIKey"
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		return strings.EqualFold(scheme, "ApiKey") && eq(cred, s.apiKey)
	case s.user != "":
		u, p, ok := r.BasicAuth()
		return ok && eq(u, s.user) && eq(p, s.password)
	}
	return true
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	w.WriteHeader(status)
	reason = strings.ReplaceAll(reason, `"`, `'`)
	fmt.Fprintf(w, `{"error":{"root_cause":[{"type":%q,"reason":%q}],"type":%q,"reason":%q},"status":%d}`,
		typ, reason, typ, reason, status)
}

// checkQuery compares a request's query string with what the route expects; it returns what
// is wrong, or "".
func checkQuery(route *Route, got url.Values) string {
	var wrong []string
	for k, want := range route.Query {
		v, ok := got[k]
		switch {
		case !ok:
			wrong = append(wrong, "no "+k)
		case len(v) != 1:
			wrong = append(wrong, fmt.Sprintf("%s given %d times", k, len(v)))
		case want == AnyFilter && v[0] == "":
			wrong = append(wrong, "an empty "+k)
		case want != AnyFilter && v[0] != want:
			wrong = append(wrong, fmt.Sprintf("%s=%s, want %s", k, v[0], want))
		}
	}
	for k := range got {
		if _, ok := route.Query[k]; !ok {
			wrong = append(wrong, "an unexpected parameter "+k)
		}
	}
	if len(wrong) == 0 {
		return ""
	}
	slices.Sort(wrong)
	return fmt.Sprintf("estest: the %s request has %s", route.Name, strings.Join(wrong, ", "))
}

// shape applies filter_path and, to a cat answer, h: what Elasticsearch leaves out of the
// answer is left out of the replay.
func shape(body []byte, q url.Values) ([]byte, error) {
	filter, cols := q.Get("filter_path"), q.Get("h")
	if filter == "" && cols == "" {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("estest: the fixture is not JSON: %w", err)
	}
	if cols != "" {
		keep := strings.Split(cols, ",")
		rows, _ := doc.([]any)
		for _, row := range rows {
			if m, ok := row.(map[string]any); ok {
				maps.DeleteFunc(m, func(k string, _ any) bool { return !slices.Contains(keep, k) })
			}
		}
	}
	if filter != "" {
		var patterns [][]string
		for _, p := range strings.Split(filter, ",") {
			if strings.HasPrefix(p, "-") {
				return nil, fmt.Errorf("estest: filter_path exclusions (%s) are not replayed", p)
			}
			patterns = append(patterns, strings.Split(p, "."))
		}
		var ok bool
		if doc, ok = filterPath(doc, patterns); !ok {
			doc = map[string]any{} // Elasticsearch answers {} when nothing matches
		}
	}
	out, err := json.Marshal(doc)
	return append(out, '\n'), err
}

// filterPath keeps the parts of v that the patterns select, as Elasticsearch's filter_path:
// each pattern is the parts of a dotted path, where * in a part matches any characters and a
// part ** any number of levels; a pattern that matches a key entirely selects its value
// whole; lists are transparent (a pattern applies to each element).
func filterPath(v any, patterns [][]string) (any, bool) {
	for _, p := range patterns {
		if len(p) == 0 {
			return v, true
		}
	}
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, child := range t {
			var rest [][]string
			for _, p := range patterns {
				rest = append(rest, matchPart(p, k)...)
			}
			if len(rest) == 0 {
				continue
			}
			if f, ok := filterPath(child, rest); ok {
				out[k] = f
			}
		}
		return out, len(out) > 0
	case []any:
		var out []any
		for _, e := range t {
			if f, ok := filterPath(e, patterns); ok {
				out = append(out, f)
			}
		}
		return out, len(out) > 0
	}
	return nil, false
}

// matchPart returns what remains of pattern p to match below key k, if p's first part
// matches k.
func matchPart(p []string, k string) [][]string {
	if p[0] == "**" {
		if len(p) == 1 {
			return [][]string{{}}
		}
		// ** takes k and goes on deeper, or takes nothing and the next part must match k
		return append([][]string{p}, matchPart(p[1:], k)...)
	}
	if glob(p[0], k) {
		return [][]string{p[1:]}
	}
	return nil
}

// glob matches s against a pattern whose * match any characters.
func glob(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return s == pattern
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return strings.HasSuffix(s, parts[len(parts)-1])
}
