package units

import (
	"math"
	"testing"
)

func TestParse(t *testing.T) {
	const fail = -99.0
	for _, tc := range []struct {
		table []Unit
		in    string
		want  float64 // fail: not read
	}{
		{Sizes, "512KiB", 512 << 10},
		{Sizes, "1MiB", 1 << 20},
		{Sizes, "1536 MiB", 1536 << 20},
		{Sizes, "2GiB", 2 << 30},
		{Sizes, "1.5GB", 1.5 * (1 << 30)},
		{Sizes, "1TiB", 1 << 40},
		{Sizes, "100B", 100},
		{Sizes, " 100 ", 100},
		{Sizes, "1mb", fail}, // case matters in the config file
		{Sizes, "1K", fail},
		{Sizes, "1e3", fail},
		{Sizes, "MiB", fail},
		{Sizes, "", fail},
		{Sizes, "1.", fail},
		{Postgres, "8kB", 8 << 10},
		{Postgres, "128MB", 128 << 20},
		{Postgres, "150ms", 0.15},
		{Postgres, "5min", 300},
		{Postgres, "30s", 30},
		{Postgres, "1h", 3600},
		{Postgres, "7d", 7 * 86400},
		{Postgres, "-1", -1},
		{Postgres, "on", fail},
		{Postgres, "replica", fail},
		{ElasticsearchBytes, "10gb", 10 << 30},
		{ElasticsearchBytes, "1.5tb", 1.5 * (1 << 40)},
		{ElasticsearchBytes, "512mb", 512 << 20},
		{ElasticsearchBytes, "2pb", 2 << 50},
		{ElasticsearchBytes, "4kb", 4 << 10},
		{ElasticsearchBytes, "12b", 12},
		{ElasticsearchBytes, "12", fail},
		{ElasticsearchBytes, "85%", fail},
		{ElasticsearchTime, "7.5d", 7.5 * 86400},
		{ElasticsearchTime, "150ms", 0.15},
		{ElasticsearchTime, "2m", 120},
		{ElasticsearchTime, "30s", 30},
		{ElasticsearchTime, "5micros", 5e-6},
		{ElasticsearchTime, "7nanos", 7e-9},
		{ElasticsearchTime, "-1", fail},
	} {
		got, ok := Parse(tc.in, tc.table)
		if ok != (tc.want != fail) || ok && math.Abs(got-tc.want) > 1e-12*math.Abs(tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
}
