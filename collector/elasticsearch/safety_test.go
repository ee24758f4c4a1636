package elasticsearch_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
)

// A password whose URL-escaped forms differ from it.
const echoPassword = `S3cr3t-P@ss:w/rd?#%`

// echoServer answers every request 401, with a body made by body from the request: a
// server (or a proxy) that echoes what it was sent.
func echoServer(t *testing.T, body func(r *http.Request) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(body(r)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// headerEcho lists every request header as "Name: value".
func headerEcho(r *http.Request) string {
	var b strings.Builder
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s; ", k, v)
		}
	}
	return b.String()
}

// The source redacts its own credentials from an error answer before it cuts the answer
// short: neither a secret the cut would split nor an echoed Authorization header reaches the
// error, even with no redacting logger behind it; and the reason is cut short too.
func TestErrorBodyRedactedBeforeCut(t *testing.T) {
	token := base64.StdEncoding.EncodeToString([]byte("exporter:" + echoPassword))
	for _, tc := range []struct {
		name string
		body func(r *http.Request) string
	}{
		// text: the password straddles the cap
		{"text", func(*http.Request) string {
			return strings.Repeat("x", elasticsearch.ErrorBodyCap-6) + echoPassword + " rejected"
		}},
		// an Elasticsearch error whose reason echoes the request headers, then the password
		// plain and URL-escaped, then a long tail
		{"reason", func(r *http.Request) string {
			reason := "unable to authenticate: " + headerEcho(r) + " password " + echoPassword + " escaped " +
				url.QueryEscape(echoPassword) + " " + strings.Repeat("tail ", 400)
			b, _ := json.Marshal(map[string]any{"error": map[string]any{"type": "security_exception", "reason": reason}, "status": 401})
			return string(b)
		}},
		// the same as text, not as JSON: the header first
		{"text echo", func(r *http.Request) string {
			return "denied " + headerEcho(r) + " " + url.PathEscape(echoPassword)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := echoServer(t, tc.body)
			ex := newExporter(target(t, "echo", &estest.Server{Server: srv}, elasticsearch.Options{Username: "exporter", Password: echoPassword}))
			s := ex.scrape(t)
			s.expect(t, 0, "elasticsearch_up", `target="echo"`)
			logs := ex.logs.String()
			if !strings.Contains(logs, "401 Unauthorized") {
				t.Fatalf("the log lacks the 401:\n%s", logs)
			}
			for _, secret := range []string{echoPassword[:5], token, token[:8], url.QueryEscape(echoPassword)[:8], url.PathEscape(echoPassword)[:8]} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log shows %q:\n%s", secret, logs)
				}
			}
			for _, line := range strings.Split(logs, "\n") {
				if len(line) > elasticsearch.ErrorBodyCap+400 {
					t.Errorf("a log line of %d bytes: the error answer is not cut short:\n%s", len(line), line)
				}
			}
		})
	}
}

// bigAnswer serves the estest fixtures, except /_cat/shards, which it answers with a JSON
// array of total bytes, written in pieces (chunked, or with a Content-Length); written
// receives how many bytes the handler wrote before a write failed (the client went away) or
// it was done.
func bigAnswer(t *testing.T, total int, contentLength bool) (*estest.Server, <-chan int) {
	t.Helper()
	replay := estest.New(t, "8.13", false)
	written := make(chan int, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/_cat/shards" {
			replay.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if contentLength {
			w.Header().Set("Content-Length", strconv.Itoa(total))
		}
		row := []byte(`{"index":"temporal_visibility_v1_prod-000010","shard":"0","prirep":"p","state":"STARTED","node":"es-data-1"},`)
		piece := make([]byte, 0, 64<<10)
		piece = append(piece, '[')
		for len(piece)+len(row) < cap(piece) {
			piece = append(piece, row...)
		}
		n := 0
		for n < total {
			p := piece
			if n > 0 {
				p = piece[1:]
			}
			p = p[:min(len(p), total-n)]
			m, err := w.Write(p)
			n += m
			if err != nil {
				break
			}
		}
		written <- n
	}))
	t.Cleanup(srv.Close)
	return &estest.Server{Server: srv}, written
}

// An answer larger than max_body_bytes fails its queries with an error that names the cap and
// how to raise it; the client stops reading at the cap (the server could not write the
// whole answer: what it wrote is the cap, what the client had read ahead, and the socket
// buffers); the other queries of the target and the other target are not affected. The
// default cap stops a 50 MB answer well before its half.
func TestAnswerLargerThanCap(t *testing.T) {
	const total = 50 << 20
	for _, tc := range []struct {
		cap           int64 // 0: the default
		contentLength bool
		size          string
	}{
		{1 << 20, false, "1MiB"},
		{1 << 20, true, "1MiB"},
		{0, false, fmt.Sprintf("%dMiB", elasticsearch.DefaultMaxBodyBytes>>20)},
	} {
		t.Run(fmt.Sprintf("cap=%d,content-length=%v", tc.cap, tc.contentLength), func(t *testing.T) {
			big, written := bigAnswer(t, total, tc.contentLength)
			other := estest.New(t, "8.13", false)
			ex := newExporter(target(t, "big", big, elasticsearch.Options{MaxBodyBytes: tc.cap}),
				target(t, "other", other, elasticsearch.Options{}))
			limit := tc.cap
			if limit == 0 {
				limit = elasticsearch.DefaultMaxBodyBytes
			}
			s := ex.scrape(t)
			for _, tg := range []string{`target="big"`, `target="other"`} {
				s.expect(t, 1, "elasticsearch_up", tg)
				s.expect(t, 1, "elasticsearch_cluster_health_status", tg, `color="red"`)
				s.expect(t, 1, "elasticsearch_ilm_status", tg, `operation_mode="RUNNING"`)
			}
			noQueryErrors(t, s, "other")
			for _, q := range []string{"elasticsearch_unassigned_shards", "elasticsearch_node_shards"} {
				s.expect(t, 1, "persistence_exporter_query_errors_total", `target="big"`, `query="`+q+`"`)
			}
			s.expect(t, 0, "persistence_exporter_query_errors_total", `target="big"`, `query="elasticsearch_node"`)
			logs := ex.logs.String()
			for _, want := range []string{"GET /_cat/shards", fmt.Sprintf("larger than %d bytes", limit), "max_body_bytes (" + tc.size + ")", "raise max_body_bytes"} {
				if !strings.Contains(logs, want) {
					t.Errorf("the log lacks %q:\n%s", want, logs)
				}
			}
			select {
			case n := <-written:
				t.Logf("the server wrote %d of %d bytes", n, total)
				if n > total/2 {
					t.Errorf("the server wrote %d of %d bytes: the client read on past the cap", n, total)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the server is still writing the big answer: the client did not go away")
			}
		})
	}
}
