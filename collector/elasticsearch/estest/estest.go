// Package estest replays recorded Elasticsearch answers from an httptest server, for tests:
// no Elasticsearch can run where the tests do. The answers are the files of a directory of
// testdata/elasticsearch (one per version); faults (500, a hang, truncated JSON) can be set per
// route, and the server can ask for basic auth or an API key and serve TLS.
package estest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Route is an API the server answers: the file it replays for paths that match.
type Route struct {
	Name string
	Re   *regexp.Regexp
	File string
}

// Routes are the APIs the default pack reads. An index expression is any path part that does
// not start with _.
var Routes = []Route{
	{"root", regexp.MustCompile(`^/$`), "root.json"},
	{"cluster_health", regexp.MustCompile(`^/_cluster/health$`), "cluster_health.json"},
	{"cluster_settings", regexp.MustCompile(`^/_cluster/settings$`), "cluster_settings.json"},
	{"nodes_stats", regexp.MustCompile(`^/_nodes/stats(/[^/]+)?$`), "nodes_stats.json"},
	{"health_report", regexp.MustCompile(`^/_health_report$`), "health_report.json"},
	{"ilm_status", regexp.MustCompile(`^/_ilm/status$`), "ilm_status.json"},
	{"ilm_explain", regexp.MustCompile(`^/[^_/][^/]*/_ilm/explain$`), "ilm_explain.json"},
	{"indices_stats", regexp.MustCompile(`^/[^_/][^/]*/_stats(/[^/]+)?$`), "indices_stats.json"},
	{"mappings", regexp.MustCompile(`^/[^_/][^/]*/_mappings?$`), "mappings.json"},
	{"index_settings", regexp.MustCompile(`^/[^_/][^/]*/_settings(/[^/]+)?$`), "index_settings.json"},
	{"cat_shards", regexp.MustCompile(`^/_cat/shards$`), "cat_shards.json"},
	{"cat_shards_indices", regexp.MustCompile(`^/_cat/shards/[^_/][^/]*$`), "cat_shards_indices.json"},
	{"cat_indices", regexp.MustCompile(`^/_cat/indices/[^_/][^/]*$`), "cat_indices.json"},
	{"cat_allocation", regexp.MustCompile(`^/_cat/allocation$`), "cat_allocation.json"},
	{"slm_policy", regexp.MustCompile(`^/_slm/policy/[^/]+$`), "slm_policy.json"},
	{"slm_status", regexp.MustCompile(`^/_slm/status$`), "slm_status.json"},
	{"cat_snapshots", regexp.MustCompile(`^/_cat/snapshots/[^/]+$`), "cat_snapshots.json"},
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
	requests map[string]int
	conns    int // connections accepted
	inFlight int
	most     int // most requests in flight at once
	user     string
	password string
	apiKey   string
	stop     chan struct{}
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
// with httptest's certificate (CACert gives it as PEM).
func New(t testing.TB, version string, tls bool, opts ...Option) *Server {
	t.Helper()
	s := &Server{dir: Dir(t, version), faults: map[string]Fault{}, requests: map[string]int{}, stop: make(chan struct{})}
	for _, o := range opts {
		o(s)
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
		s.Start()
	}
	t.Cleanup(s.Server.Close)
	t.Cleanup(func() { close(s.stop) }) // runs first: releases hanging handlers
	return s
}

// Fail sets the fault of a route (by Route.Name); OK clears it.
func (s *Server) Fail(route string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = f
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
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "estest other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
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
	if err != nil {
		// this version has no such API (7.17 and /_health_report)
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [GET]", r.URL.Path))
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
		// the scheme is case-insensitive: go-elasticsearch sends "APIKey"
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
