package redis

import (
	"errors"
	"reflect"
	"regexp"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch"
	"github.com/persistence-exporter/persistence_exporter/collector/pgbackrest"
	"github.com/persistence-exporter/persistence_exporter/collector/postgres"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

// parseBody loads one redis query the way a pack does, so that its body is validated (and its
// match compiled).
func parseBody(t *testing.T, body string) *queries.Query {
	t.Helper()
	p, err := queries.Parse("test.yaml", []byte("source: redis\nqueries:\n  - name: q\n    redis: "+body+"\n    columns: [{name: x, usage: discard}]\n"), allKinds())
	if err != nil {
		t.Fatal(err)
	}
	return p.Queries[0]
}

func rowsEqual(t *testing.T, what string, got *queries.Rows, cols []string, vals [][]any) {
	t.Helper()
	if !reflect.DeepEqual(got.Columns, cols) {
		t.Errorf("%s: columns %q, want %q", what, got.Columns, cols)
	}
	if !reflect.DeepEqual(got.Values, vals) {
		t.Errorf("%s: values %v, want %v", what, got.Values, vals)
	}
}

const keyedInfo = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
	"slave0:ip=10.0.0.2,port=6379,state=online,offset=100,lag=0\r\n" +
	"slave1:ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=1\r\n" +
	"# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=97.279,p99.9=216.063\r\n" +
	"latency_percentiles_usec_client|setname:p50=1,p99=7\r\n" +
	"# Keyspace\r\ndb0:keys=2100,expires=100,avg_ttl=3599950\r\ndb15:keys=1,expires=0,avg_ttl=0\r\n"

func TestInfoKeyedRows(t *testing.T) {
	in := ParseInfo(keyedInfo)
	q := parseBody(t, `{command: [INFO], reply: info_keyed, match: '^db[0-9]+$', key: db}`)
	rowsEqual(t, "keyspace", infoKeyedRows(in, redisOf(q.Body)), []string{"db", "keys", "expires", "avg_ttl"},
		[][]any{{"db0", "2100", "100", "3599950"}, {"db15", "1", "0", "0"}})

	q = parseBody(t, `{command: [INFO], reply: info_keyed, match: '^slave[0-9]+$', column_prefix: slave_}`)
	rowsEqual(t, "replicas", infoKeyedRows(in, redisOf(q.Body)), []string{"slave_ip", "slave_port", "slave_state", "slave_offset", "slave_lag"},
		[][]any{{"10.0.0.2", "6379", "online", "100", "0"}, {"10.0.0.3", "6379", "wait_bgsave", "0", "1"}})

	q = parseBody(t, `{command: [INFO, latencystats], reply: info_keyed, match: '^latency_percentiles_usec_(.+)$', key: cmd, pivot: percentile}`)
	rowsEqual(t, "latency", infoKeyedRows(in, redisOf(q.Body)), []string{"cmd", "percentile", "value"},
		[][]any{{"get", "p50", "1.003"}, {"get", "p99", "97.279"}, {"get", "p99.9", "216.063"},
			{"client|setname", "p50", "1"}, {"client|setname", "p99", "7"}})

	// nothing matches: no rows
	q = parseBody(t, `{command: [INFO], reply: info_keyed, match: '^errorstat_(.+)$', key: err}`)
	if rows := infoKeyedRows(in, redisOf(q.Body)); len(rows.Values) != 0 {
		t.Errorf("errorstats: %v", rows.Values)
	}
}

func TestInfoRows(t *testing.T) {
	q := parseBody(t, `{command: [INFO], reply: info, optional: [aof_current_size], constants: {info: 1}, copy: {role_copy: role}}`)
	rows, err := finish(infoRows(ParseInfo(keyedInfo), redisOf(q.Body)), redisOf(q.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"role": "master", "connected_slaves": "2", "db0": "keys=2100,expires=100,avg_ttl=3599950",
		"aof_current_size": nil, "info": int64(1), "role_copy": "master"}
	if len(rows.Values) != 1 {
		t.Fatalf("rows %v", rows.Values)
	}
	for c, v := range want {
		i := indexOf(rows.Columns, c)
		if i < 0 {
			t.Errorf("no column %q in %q", c, rows.Columns)
			continue
		}
		if got := rows.Values[0][i]; got != v {
			t.Errorf("%s = %#v, want %#v", c, got, v)
		}
	}
}

func indexOf(s []string, x string) int {
	for i, v := range s {
		if v == x {
			return i
		}
	}
	return -1
}

func TestPairsRows(t *testing.T) {
	q := parseBody(t, `{command: [CONFIG, GET, "*"], reply: pairs}`)
	rows, err := pairsRows([]any{"maxmemory", "1610612736", "maxmemory-policy", "allkeys-lru", "save", "900 1 300 10 60 10000"}, redisOf(q.Body))
	if err != nil {
		t.Fatal(err)
	}
	rowsEqual(t, "CONFIG GET", rows, []string{"maxmemory", "maxmemory_policy", "save"},
		[][]any{{"1610612736", "allkeys-lru", "900 1 300 10 60 10000"}})
	// credentials never become columns
	rows, err = pairsRows([]any{"requirepass", "pw1", "masterauth", "pw2", "masteruser", "repl", "tls-key-file-pass", "pw3",
		"tls-client-key-file-pass", "pw4", "SOME-SECRET", "pw5", "tls-key-file", "/etc/redis/key.pem", "hz", "10"}, redisOf(q.Body))
	if err != nil {
		t.Fatal(err)
	}
	rowsEqual(t, "credentials", rows, []string{"tls_key_file", "hz"}, [][]any{{"/etc/redis/key.pem", "10"}})
	if _, err := pairsRows([]any{"odd"}, redisOf(q.Body)); err == nil {
		t.Error("an odd list should be an error")
	}
	if _, err := pairsRows(map[any]any{"a": "1"}, redisOf(q.Body)); err == nil {
		t.Error("a map is not a RESP2 reply")
	}
}

func TestMapsRows(t *testing.T) {
	q := parseBody(t, `{command: [SENTINEL, REPLICAS, "{master}"], reply: maps, column_prefix: replica_, flags: [s_down, disconnected]}`)
	reply := []any{
		[]any{"name", "127.0.0.1:6380", "ip", "127.0.0.1", "port", "6380", "flags", "slave", "master-link-status", "ok"},
		[]any{"name", "127.0.0.1:6381", "ip", "127.0.0.1", "port", "6381", "flags", "s_down,slave,disconnected", "master-link-status", "err"},
	}
	tb, err := mapsRows(reply, redisOf(q.Body), map[string]any{"master_name": "mymaster"})
	if err != nil {
		t.Fatal(err)
	}
	rowsEqual(t, "replicas", tb.build(),
		[]string{"master_name", "replica_name", "replica_ip", "replica_port", "replica_flags", "replica_master_link_status", "replica_address", "replica_s_down", "replica_disconnected"},
		[][]any{
			{"mymaster", "127.0.0.1:6380", "127.0.0.1", "6380", "slave", "ok", "127.0.0.1:6380", int64(0), int64(0)},
			{"mymaster", "127.0.0.1:6381", "127.0.0.1", "6381", "s_down,slave,disconnected", "err", "127.0.0.1:6381", int64(1), int64(1)},
		})
	if _, err := mapsRows("nope", redisOf(q.Body), nil); err == nil {
		t.Error("a string is not a list of maps")
	}
}

func TestSlowlogRows(t *testing.T) {
	reply := []any{
		[]any{int64(7), int64(1700000000), int64(20563), []any{"DEBUG", "sleep", "0.02"}, "127.0.0.1:5000", ""},
		[]any{int64(6), int64(1699999999), int64(15000), []any{"SET", "session:secret-key", "secret-value"}, "127.0.0.1:5001", "app"},
	}
	rows, err := slowlogRows(reply)
	if err != nil {
		t.Fatal(err)
	}
	// the arguments (keys, values) never make it into the rows
	rowsEqual(t, "slowlog", rows, []string{"position", "id", "timestamp", "duration_usec", "cmd"},
		[][]any{{int64(0), int64(7), int64(1700000000), int64(20563), "debug"}, {int64(1), int64(6), int64(1699999999), int64(15000), "set"}})
	rows, err = slowlogRows([]any{})
	if err != nil || len(rows.Columns) != 5 || len(rows.Values) != 0 {
		t.Errorf("empty slowlog: %v %v", rows, err)
	}
	if _, err := slowlogRows([]any{[]any{"x"}}); err == nil {
		t.Error("a short entry should be an error")
	}
}

func TestLatencyRows(t *testing.T) {
	rows, err := latencyRows([]any{[]any{"command", int64(1795762782), int64(20), int64(25)}})
	if err != nil {
		t.Fatal(err)
	}
	rowsEqual(t, "latency", rows, []string{"event_name", "timestamp", "latest_ms", "max_ms"},
		[][]any{{"command", int64(1795762782), int64(20), int64(25)}})
}

type fakeRedisError string

func (e fakeRedisError) Error() string { return string(e) }
func (fakeRedisError) RedisError()     {}

func TestStatusRows(t *testing.T) {
	q := parseBody(t, `{command: [SENTINEL, CKQUORUM, "{master}"], reply: status}`)
	rowsEqual(t, "ok", statusRows("OK 3 usable Sentinels", nil, redisOf(q.Body)), []string{"ok", "message"}, [][]any{{int64(1), "OK 3 usable Sentinels"}})
	err := fakeRedisError("NOQUORUM 1 usable Sentinels")
	if !isRedisError(err) || isRedisError(errors.New("i/o timeout")) {
		t.Error("isRedisError")
	}
	rowsEqual(t, "noquorum", statusRows(nil, err, redisOf(q.Body)), []string{"ok", "message"}, [][]any{{int64(0), "NOQUORUM 1 usable Sentinels"}})
}

func TestFinish(t *testing.T) {
	q := parseBody(t, `{command: [SLOWLOG, GET, "10"], reply: slowlog, limit: 1, copy: {c: missing}}`)
	_, err := finish(&queries.Rows{Columns: []string{"a"}, Values: [][]any{{1}, {2}}}, redisOf(q.Body))
	if err == nil || !regexp.MustCompile(`no column "missing"`).MatchString(err.Error()) {
		t.Errorf("copy of a missing column: %v", err)
	}
	q = parseBody(t, `{command: [SLOWLOG, GET, "10"], reply: slowlog, limit: 1}`)
	rows, err := finish(&queries.Rows{Columns: []string{"a"}, Values: [][]any{{1}, {2}}}, redisOf(q.Body))
	if err != nil || len(rows.Values) != 1 {
		t.Errorf("limit 1: %v %v", rows, err)
	}
}

// redisOf is the redis body of a query, nil for another body.
func redisOf(b queries.Body) *Redis {
	r, _ := b.(*Redis)
	return r
}

// allKinds are the source kinds of the default packs, as collector/kinds's table (which
// imports this package, so its tests cannot).
func allKinds() queries.SourceKinds {
	return queries.SourceKinds{postgres.Kind().Pack, postgres.PgbouncerKind().Pack, Kind().Pack, elasticsearch.Kind().Pack, pgbackrest.Kind().Pack}
}
