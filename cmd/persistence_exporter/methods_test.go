package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestOnlyGetAndHead: every endpoint answers GET and HEAD as before, and any other method
// with 405 and an Allow header, without running the handler. The exporter has a replayed
// Elasticsearch (a live target, in process) and a PostgreSQL target on a closed port, which
// is enough for the advisor's endpoints to be served.
func TestOnlyGetAndHead(t *testing.T) {
	es := estest.New(t, "8.13", false)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.WriteFile(t, t.TempDir(), "config.yml", fmt.Sprintf(`targets:
  elasticsearch:
    - name: es
      urls: [%s]
  postgres:
    - name: dead
      dsn: postgres://exporter:%s@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2
`, es.URL, testPassword, port))
	ex := startExporter(t, cfg)
	if ex.adv == nil {
		t.Fatal("no advisor with a PostgreSQL target")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ex.adv.Run(ctx) // /advisor answers 503 until the first run

	// what each endpoint answers to GET, and a line of its body
	want := map[string]struct {
		status int
		body   string
	}{
		"/metrics":           {200, `elasticsearch_up{target="es"} 1`},
		"/probe?target=es":   {200, "\nelasticsearch_up 1\n"},
		"/probe?target=dead": {200, "\npg_up 0\n"},
		"/probe?target=nope": {404, ""},
		"/sd":                {200, `"__param_target":"es"`},
		"/advisor":           {200, "<html"},
		"/advisor.json":      {200, `"findings"`},
		"/":                  {200, "persistence_exporter"},
		"/no-such-page":      {404, ""},
	}
	// and every link of the landing page, so that an endpoint added there is covered too
	landing := ex.get(t, "/")
	for _, m := range regexp.MustCompile(`href="([^"#:]+)"`).FindAllStringSubmatch(landing, -1) {
		p := html.UnescapeString(m[1])
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if _, ok := want[p]; !ok && !strings.HasPrefix(p, "/static/") {
			want[p] = struct {
				status int
				body   string
			}{200, ""}
		}
	}
	// /sd, once it exists
	if c, _, _ := ex.do(t, "GET", "/sd"); c != http.StatusNotFound {
		want["/sd"] = struct {
			status int
			body   string
		}{c, ""}
	}
	for _, p := range []string{"/metrics", "/probe?target=es", "/advisor", "/advisor.json", "/"} {
		if _, ok := want[p]; !ok {
			t.Fatalf("%s is not checked", p)
		}
	}

	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	t.Logf("checking %q", paths)
	for _, p := range paths {
		w := want[p]
		code, _, body := ex.do(t, "GET", p)
		if code != w.status || !strings.Contains(body, w.body) {
			t.Errorf("GET %s: %d, want %d and %q in\n%.300s", p, code, w.status, w.body, body)
		}
		code, _, body = ex.do(t, "HEAD", p)
		if code != w.status || body != "" {
			t.Errorf("HEAD %s: %d and %d bytes, want %d and no body", p, code, len(body), w.status)
		}
		for _, method := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"} {
			code, h, body := ex.do(t, method, p)
			if code != http.StatusMethodNotAllowed || h.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", method, p, code, h.Get("Allow"), "GET, HEAD")
			}
			if w.body != "" && strings.Contains(body, w.body) {
				t.Errorf("%s %s served the page:\n%.300s", method, p, body)
			}
		}
	}
	// the 405s ran no gather: Elasticsearch saw no probe (GET /) for them, and does for a GET
	before := es.Requests("root")
	for _, method := range []string{"POST", "PUT", "DELETE", "TRACE"} {
		ex.do(t, method, "/metrics")
		ex.do(t, method, "/probe?target=es")
	}
	if after := es.Requests("root"); after != before {
		t.Errorf("refused requests gathered: %d probes of Elasticsearch, want %d", after, before)
	}
	before = es.Requests("root")
	ex.do(t, "GET", "/probe?target=es")
	if after := es.Requests("root"); after != before+1 {
		t.Errorf("a GET of /probe: %d probes of Elasticsearch, want %d", after, before+1)
	}
}

// do sends a request with a body and returns the status, the header and the body.
func (e *exporter) do(t *testing.T, method, path string) (int, http.Header, string) {
	t.Helper()
	resp, b := e.send(t, method, path, strings.NewReader("x=1"))
	return resp.StatusCode, resp.Header, string(b)
}
