package redis

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
	"github.com/persistence-exporter/persistence_exporter/internal/version"
	"github.com/persistence-exporter/persistence_exporter/queries"
)

func TestParseInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want Info
	}{
		{"empty", "", nil},
		{"CRLF lines and sections",
			"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Memory\r\nused_memory:1563856\r\n",
			Info{{"Server", "redis_version", "7.0.15"}, {"Server", "redis_mode", "standalone"}, {"Memory", "used_memory", "1563856"}}},
		{"LF lines", "# Clients\nconnected_clients:3\n",
			Info{{"Clients", "connected_clients", "3"}}},
		{"no trailing newline", "# Stats\r\nevicted_keys:0",
			Info{{"Stats", "evicted_keys", "0"}}},
		{"fields before any section", "loading:0\r\n",
			Info{{"", "loading", "0"}}},
		{"empty value", "# Server\r\nconfig_file:\r\n",
			Info{{"Server", "config_file", ""}}},
		{"value with colons and spaces",
			"# Sentinel\r\nmaster0:name=mymaster,status=ok,address=127.0.0.1:56379,slaves=2,sentinels=3\r\nos:Linux 6.1 x86_64\r\n",
			Info{{"Sentinel", "master0", "name=mymaster,status=ok,address=127.0.0.1:56379,slaves=2,sentinels=3"}, {"Sentinel", "os", "Linux 6.1 x86_64"}}},
		{"compound values stay whole",
			"# Keyspace\r\ndb0:keys=2100,expires=100,avg_ttl=3599950\r\ndb1:keys=1,expires=0,avg_ttl=0\r\n",
			Info{{"Keyspace", "db0", "keys=2100,expires=100,avg_ttl=3599950"}, {"Keyspace", "db1", "keys=1,expires=0,avg_ttl=0"}}},
		{"subcommand names", "# Commandstats\r\ncmdstat_client|setname:calls=2,usec=8,usec_per_call=4.00,rejected_calls=0,failed_calls=0\r\n",
			Info{{"Commandstats", "cmdstat_client|setname", "calls=2,usec=8,usec_per_call=4.00,rejected_calls=0,failed_calls=0"}}},
		{"junk lines are skipped", "# Server\r\nthis line has no colon\r\n:no name\r\n  \r\nok:1\r\n",
			Info{{"Server", "ok", "1"}}},
		{"empty section", "# Modules\r\n\r\n# Errorstats\r\nerrorstat_ERR:count=3\r\n",
			Info{{"Errorstats", "errorstat_ERR", "count=3"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseInfo(tc.text)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseInfo(%q)\n got %q\nwant %q", tc.text, got, tc.want)
			}
		})
	}
}

func TestParseCompound(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []KV
	}{
		{"", nil},
		{"keys=2100,expires=100,avg_ttl=3599950", []KV{{"keys", "2100"}, {"expires", "100"}, {"avg_ttl", "3599950"}}},
		{"ip=127.0.0.1,port=56380,state=online,offset=91592,lag=0",
			[]KV{{"ip", "127.0.0.1"}, {"port", "56380"}, {"state", "online"}, {"offset", "91592"}, {"lag", "0"}}},
		{"p50=1.003,p99=97.279,p99.9=216.063", []KV{{"p50", "1.003"}, {"p99", "97.279"}, {"p99.9", "216.063"}}},
		{"address=127.0.0.1:6379", []KV{{"address", "127.0.0.1:6379"}}},
		{"count=3", []KV{{"count", "3"}}},
		{"plain", []KV{{"", "plain"}}},
		{"a==b,c=", []KV{{"a", "=b"}, {"c", ""}}},
	} {
		if got := ParseCompound(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCompound(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// INFO replies recorded from a 7.0 primary (INFO everything), its replica and a sentinel
// parse into the fields the default pack maps.
func TestParseInfoSamples(t *testing.T) {
	for _, tc := range []struct {
		file      string
		minFields int
		fields    map[string]string
	}{
		{"testdata/info-primary.txt", 200, map[string]string{
			"redis_version": "7.0.15", "role": "master", "maxmemory": "0", "rdb_last_bgsave_status": "ok",
			"slave0":                       "ip=127.0.0.1,port=46380,state=online,offset=23963,lag=1",
			"db0":                          "keys=1,expires=0,avg_ttl=0",
			"cmdstat_get":                  "calls=2,usec=31,usec_per_call=15.50,rejected_calls=0,failed_calls=0",
			"errorstat_ERR":                "count=1",
			"latency_percentiles_usec_get": "p50=7.007,p99=24.063,p99.9=24.063",
		}},
		{"testdata/info-replica.txt", 150, map[string]string{
			"role": "slave", "master_link_status": "up", "master_port": "46379", "master_host": "127.0.0.1",
		}},
		{"testdata/info-sentinel.txt", 80, map[string]string{
			"redis_mode": "sentinel", "sentinel_masters": "1",
			"master0": "name=mymaster,status=ok,address=127.0.0.1:46379,slaves=1,sentinels=1",
		}},
	} {
		b := testenv.ReadFile(t, tc.file)
		in := ParseInfo(string(b))
		if len(in) < tc.minFields {
			t.Errorf("%s: only %d fields", tc.file, len(in))
		}
		for k, want := range tc.fields {
			if got, ok := in.Get(k); !ok || got != want {
				t.Errorf("%s: %s = %q (present %v), want %q", tc.file, k, got, ok, want)
			}
		}
		for _, f := range in {
			if strings.ContainsAny(f.Name+f.Value, "\r\n") {
				t.Errorf("%s: field %q keeps a line end", tc.file, f.Name)
			}
		}
	}
}

// The default queries that read the probe's plain INFO find every column they map in replies
// recorded from Redis 6.0.16 (Debian bullseye's) and 7.0.15, at those versions: a column
// gated too early (a field that arrived in a later release) would fail the whole query there.
// The 7.0 reply also goes through without the main-thread CPU fields, which only Linux
// builds have.
func TestDefaultInfoQueriesOnRecordedReplies(t *testing.T) {
	for _, tc := range []struct {
		file string
		drop []string // fields removed from the reply first
	}{
		{"testdata/info-6.0.16-primary.txt", nil},
		{"testdata/info-primary.txt", nil},
		{"testdata/info-primary.txt", []string{"used_cpu_sys_main_thread", "used_cpu_user_main_thread"}},
	} {
		b := testenv.ReadFile(t, tc.file)
		var kept []string
		for _, line := range strings.Split(string(b), "\n") {
			name, _, _ := strings.Cut(line, ":")
			if !slices.Contains(tc.drop, name) {
				kept = append(kept, line)
			}
		}
		text := strings.Join(kept, "\n")
		v, _ := ParseInfo(text).Get("redis_version")
		info := queries.ServerInfo{Version: versionNumber(t, v), Role: queries.RolePrimary, Features: map[string]string{FeatureConfig: ""}}
		checked := 0
		for _, q := range defaultQueries(t) {
			body, skip, _ := q.Plan(info)
			if skip != "" || redisOf(body) == nil || commandKey(redisOf(body).Command) != commandKey([]string{"INFO"}) {
				continue
			}
			rows, err := infoReplyRows(text, redisOf(body))
			if err == nil {
				rows, err = finish(rows, redisOf(body))
			}
			if err != nil {
				t.Errorf("%s %v: %s: %v", tc.file, tc.drop, q.Name, err)
				continue
			}
			checked++
			if len(rows.Values) == 0 {
				continue // no replica, say: the source reports an empty result as lacking nothing
			}
			for _, c := range q.Columns {
				if c.Usage != queries.UsageDiscard && c.InVersion(info.Version) && !slices.Contains(rows.Columns, c.Name) {
					t.Errorf("%s %v (version %d): query %s lacks column %s (min_version %d)", tc.file, tc.drop, info.Version, q.Name, c.Name, c.MinVersion)
				}
			}
		}
		if checked < 4 {
			t.Errorf("%s: only %d queries read plain INFO", tc.file, checked)
		}
	}
}

func versionNumber(t *testing.T, v string) int {
	t.Helper()
	n, err := version.Number(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
