package estest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestFilterPath(t *testing.T) {
	doc := `{"cluster_name": "c", "nodes": {
		"n1": {"name": "a", "roles": ["data"], "jvm": {"mem": {"heap_used_in_bytes": 1, "heap_used_percent": 2, "pools": {"young": {"used_in_bytes": 3}}}},
		       "fs": {"data": [{"path": "/d1", "total_in_bytes": 4, "type": "ext4"}, {"path": "/d2", "total_in_bytes": 5}]}},
		"n2": {"name": "b", "roles": []}}}`
	for filter, want := range map[string]string{
		"nodes.*.name":                  `{"nodes":{"n1":{"name":"a"},"n2":{"name":"b"}}}`,
		"nodes.*.roles,cluster_name":    `{"cluster_name":"c","nodes":{"n1":{"roles":["data"]},"n2":{"roles":[]}}}`,
		"nodes.*.jvm.mem.*_in_bytes":    `{"nodes":{"n1":{"jvm":{"mem":{"heap_used_in_bytes":1}}}}}`,
		"nodes.*.fs.data.path":          `{"nodes":{"n1":{"fs":{"data":[{"path":"/d1"},{"path":"/d2"}]}}}}`,
		"**.used_in_bytes":              `{"nodes":{"n1":{"jvm":{"mem":{"pools":{"young":{"used_in_bytes":3}}}}}}}`,
		"nodes.n1.jvm.**":               `{"nodes":{"n1":{"jvm":{"mem":{"heap_used_in_bytes":1,"heap_used_percent":2,"pools":{"young":{"used_in_bytes":3}}}}}}}`,
		"nodes.n*.fs.data.total_in_by*": `{"nodes":{"n1":{"fs":{"data":[{"total_in_bytes":4},{"total_in_bytes":5}]}}}}`,
		"nothing.here":                  `{}`,
	} {
		got, err := shape([]byte(doc), map[string][]string{"filter_path": {filter}})
		if err != nil {
			t.Errorf("%s: %v", filter, err)
			continue
		}
		if s := strings.TrimSpace(string(got)); s != want {
			t.Errorf("filter_path=%s:\n got %s\nwant %s", filter, s, want)
		}
	}
}

func TestCatColumns(t *testing.T) {
	got, err := shape([]byte(`[{"node": "a", "disk.used": "1", "disk.percent": "9"}]`), map[string][]string{"h": {"node,disk.used"}})
	if err != nil || strings.TrimSpace(string(got)) != `[{"disk.used":"1","node":"a"}]` {
		t.Errorf("h=node,disk.used: %s %v", got, err)
	}
}

// A request whose query string is not what the route expects is answered 400.
func TestQueryChecked(t *testing.T) {
	srv := New(t, "8.13", false)
	for path, want := range map[string]string{
		"/_cat/allocation?format=json&bytes=b&h=node,host,shards,disk.indices,disk.used,disk.avail,disk.total": "",
		"/_cat/allocation?format=json&h=node,host,shards,disk.indices,disk.used,disk.avail,disk.total":         "no bytes",
		"/_cat/allocation?format=json&bytes=b&h=node":                                                          "h=node, want node,host,",
		"/temporal_visibility_v1_*/_stats?level=indices&pretty":                                                "an unexpected parameter pretty",
		"/_cluster/settings?include_defaults=true":                                                             "no filter_path",
		"/_cluster/settings?include_defaults=true&filter_path=defaults.cluster":                                "",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var e struct {
			Error struct{ Reason string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		switch {
		case want == "" && res.StatusCode != 200:
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		case want != "" && (res.StatusCode != 400 || !strings.Contains(e.Error.Reason, want)):
			t.Errorf("%s: %d %s, want 400 with %q", path, res.StatusCode, body, want)
		}
	}
}
