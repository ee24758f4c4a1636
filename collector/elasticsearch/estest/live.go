package estest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Live makes the replay move as a running cluster would, cheaply, for the sandbox of `make
// demo`, whose dashboards plot rates: the recording's moment (the timestamp of its node stats)
// becomes the server's start — every point in time moves by the gap between the two — so
// that every age a client measures against its own clock (of a snapshot, an ILM step, an
// index) is the recorded one plus the time since; each counter of the statistics APIs goes on at the
// average rate it has over the recorded nodes' uptime (a counter at 0 stays 0: no breaker
// trips, no rejection that was not recorded); the JVM uptime goes on. Everything else
// (health, shards, disk, settings) stays as recorded: no event is invented. now is the
// server's clock. ("Recorded" is the package's word for its fixtures, whatever made them.)
func Live(now func() time.Time) Option {
	return func(s *Server) { s.clock = now }
}

// live is the state of a Live replay.
type live struct {
	now      func() time.Time
	start    time.Time // the server's start: the recording's moment
	recorded int64     // the recording's moment, unix ms
	uptime   float64   // the longest recorded JVM uptime, ms: what the counters were counted over
}

// newLive reads the recording's moment and uptime from the node stats of dir.
func newLive(dir string, now func() time.Time) (*live, error) {
	data, err := os.ReadFile(filepath.Join(dir, "nodes_stats.json"))
	if err != nil {
		return nil, err
	}
	var doc struct {
		Nodes map[string]struct {
			Timestamp int64 `json:"timestamp"`
			JVM       struct {
				Uptime int64 `json:"uptime_in_millis"`
			} `json:"jvm"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("estest: %s/nodes_stats.json: %w", dir, err)
	}
	l := &live{now: now, start: now()}
	for _, n := range doc.Nodes {
		l.recorded = max(l.recorded, n.Timestamp)
		l.uptime = max(l.uptime, float64(n.JVM.Uptime))
	}
	if l.recorded == 0 || l.uptime == 0 {
		return nil, fmt.Errorf("estest: %s/nodes_stats.json has no node with a timestamp and a JVM uptime", dir)
	}
	return l, nil
}

// counterParents are the objects of the statistics APIs whose "total", "*_total" and
// "*_time_in_millis" fields are counters (and whose "current" fields are not).
var counterParents = map[string]bool{"indexing": true, "search": true, "get": true, "refresh": true, "merges": true, "flush": true, "warmer": true}

// counterKeys are counters wherever they are (gc collectors, thread pools, transport, CPU,
// breakers, caches).
var counterKeys = map[string]bool{
	"collection_count": true, "collection_time_in_millis": true, "completed": true, "rejected": true,
	"rx_count": true, "rx_size_in_bytes": true, "tx_count": true, "tx_size_in_bytes": true,
	"total_in_millis": true, "tripped": true, "evictions": true,
}

// timeKey names the fields that may hold a point in time (unix seconds or ms), and
// durationKey those of them that hold a duration; a point in time is moved only when it is
// near the recording's moment, so that a size or a count is never taken for one.
var (
	timeKey     = regexp.MustCompile(`date|epoch|time|millis`)
	durationKey = regexp.MustCompile(`(time|total|uptime)_in_millis$|in_queue`)
)

// move returns body as the cluster would answer it now.
func (l *live) move(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("estest: the fixture is not JSON: %w", err)
	}
	elapsed := l.now().Sub(l.start)
	doc = l.walk(doc, "", elapsed)
	out, err := json.Marshal(doc)
	return append(out, '\n'), err
}

func (l *live) walk(v any, parent string, elapsed time.Duration) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			switch child.(type) {
			case map[string]any, []any:
				t[k] = l.walk(child, k, elapsed)
			default:
				t[k] = l.field(parent, k, child, elapsed)
			}
		}
	case []any:
		for i, e := range t {
			t[i] = l.walk(e, parent, elapsed)
		}
	}
	return v
}

// field moves one value: a point in time by the time since the start, a counter by its
// average rate, the JVM uptime by the time since the start.
func (l *live) field(parent, key string, v any, elapsed time.Duration) any {
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = t // cat APIs and index settings answer numbers as strings
	default:
		return v
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return v
	}
	ms := elapsed.Milliseconds()
	shift := l.start.UnixMilli() - l.recorded + ms // for points in time
	year := int64(366 * 24 * time.Hour / time.Millisecond)
	pointInTime := timeKey.MatchString(key) && !durationKey.MatchString(key)
	switch {
	case key == "uptime_in_millis":
		n += ms
	case counterKeys[key] || counterParents[parent] && (key == "total" || strings.HasSuffix(key, "_total") || strings.HasSuffix(key, "_time_in_millis")):
		n += int64(math.Floor(float64(n) * float64(ms) / l.uptime))
	case pointInTime && n > l.recorded-10*year && n < l.recorded+year:
		n += shift
	case pointInTime && n > (l.recorded-10*year)/1000 && n < (l.recorded+year)/1000:
		n += shift / 1000
	default:
		return v
	}
	if _, isString := v.(string); isString {
		return strconv.FormatInt(n, 10)
	}
	return json.Number(strconv.FormatInt(n, 10))
}
