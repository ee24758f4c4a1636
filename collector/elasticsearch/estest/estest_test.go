package estest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
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

// A Live replay moves: points in time by the time since the start, counters at their
// recorded average rate, the uptime as a clock; gauges, sizes and zero counters stay.
func TestLive(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv, err := Start(Dir(t, "8.13"), false, Live(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(path string) map[string]any {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc map[string]any
		dec := json.NewDecoder(res.Body)
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil || res.StatusCode != 200 {
			t.Fatalf("%s: %d %v", path, res.StatusCode, err)
		}
		return doc
	}
	at := func(doc any, path ...string) int64 {
		t.Helper()
		for _, p := range path {
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("no %s in %v", p, doc)
			}
			doc = m[p]
		}
		var n int64
		var err error
		switch v := doc.(type) {
		case json.Number:
			n, err = v.Int64()
		case string:
			n, err = strconv.ParseInt(v, 10, 64)
		default:
			t.Fatalf("%v at %v is not a number", doc, path)
		}
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const nodesPath = "/_nodes/stats?filter_path=nodes.*.timestamp,nodes.*.jvm,nodes.*.indices,nodes.*.thread_pool,nodes.*.breakers"
	node := []string{"nodes", "esdata1-04Qk9xZ"}
	before := get(nodesPath)
	beforeIdx := get("/temporal_visibility_v1_*/_stats?level=indices")
	beforeSLM := get("/_slm/policy/nightly-snapshots")
	now = now.Add(time.Hour)
	after := get(nodesPath)
	afterIdx := get("/temporal_visibility_v1_*/_stats?level=indices")
	afterSLM := get("/_slm/policy/nightly-snapshots")

	const hour = int64(time.Hour / time.Millisecond)
	uptime := at(before, append(node, "jvm", "uptime_in_millis")...)
	if got := at(after, append(node, "jvm", "uptime_in_millis")...); got != uptime+hour {
		t.Errorf("uptime after an hour: %d, want %d", got, uptime+hour)
	}
	if got, was := at(after, append(node, "timestamp")...), at(before, append(node, "timestamp")...); got != was+hour {
		t.Errorf("the node stats' timestamp moved %d ms in an hour", got-was)
	}
	// the recording's moment (1735689600000) became the start: the first answer's timestamp
	// is the start's, and every point in time moved as much
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	if got := at(before, append(node, "timestamp")...); got != start {
		t.Errorf("the first answer's timestamp is %d, want the start's %d", got, start)
	}
	// the longest recorded uptime is 1209607000 ms: an hour adds 3600000/1209607000 of each counter
	for _, p := range [][]string{{"indices", "indexing", "index_total"}, {"indices", "search", "query_time_in_millis"},
		{"indices", "merges", "total"}, {"thread_pool", "write", "completed"}} {
		was, got := at(before, append(node, p...)...), at(after, append(node, p...)...)
		if want := was + was*hour/1209607000; got != want || was == 0 {
			t.Errorf("%v: %d an hour after %d, want %d", p, got, was, want)
		}
	}
	for _, p := range [][]string{{"indices", "docs", "count"}, {"indices", "indexing", "index_current"},
		{"jvm", "mem", "heap_used_in_bytes"}, {"breakers", "parent", "tripped"}, {"thread_pool", "write", "rejected"}} {
		if was, got := at(before, append(node, p...)...), at(after, append(node, p...)...); got != was {
			t.Errorf("%v moved from %d to %d: only counters move, and a zero counter stays", p, was, got)
		}
	}
	idx := []string{"indices", "temporal_visibility_v1_prod-000007", "total"}
	if was, got := at(beforeIdx, append(idx, "indexing", "index_total")...), at(afterIdx, append(idx, "indexing", "index_total")...); got <= was {
		t.Errorf("an index's index_total went from %d to %d in an hour", was, got)
	}
	if was, got := at(beforeIdx, append(idx, "store", "size_in_bytes")...), at(afterIdx, append(idx, "store", "size_in_bytes")...); got != was {
		t.Errorf("an index's size went from %d to %d: sizes are not points in time", was, got)
	}
	slm := []string{"nightly-snapshots", "last_success", "time"}
	if got, want := at(beforeSLM, slm...), 1735434000000+start-1735689600000; got != want {
		t.Errorf("the SLM policy's last success at the start: %d, want %d, as long before the start as it was before the recording", got, want)
	}
	if was, got := at(beforeSLM, slm...), at(afterSLM, slm...); got != was+hour {
		t.Errorf("the SLM policy's last success moved %d ms in an hour", got-was)
	}
	// cat answers numbers as strings, in seconds: they stay strings
	res, err := http.Get(srv.URL + "/_cat/snapshots/temporal-backups?format=json&h=id,repository,status,start_epoch,end_epoch")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var snaps []map[string]string
	if err := json.NewDecoder(res.Body).Decode(&snaps); err != nil || len(snaps) == 0 {
		t.Fatalf("cat snapshots: %v %v", snaps, err)
	}
	if want := 1735085400 + (start-1735689600000)/1000 + 3600; snaps[0]["end_epoch"] != strconv.FormatInt(want, 10) {
		t.Errorf("the first snapshot's end_epoch an hour on: %s, want %d", snaps[0]["end_epoch"], want)
	}
}
