package version

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   []int
		number int // Number, or -1 for an error
		pg     int // PostgresNumber, or -1 for an error
	}{
		{"7.2.4", []int{7, 2, 4}, 70204, 70204},
		{"7.0.15", []int{7, 0, 15}, 70015, 70015},
		{"6.2.14", []int{6, 2, 14}, 60214, 60214},
		{"5.0", []int{5, 0}, 50000, 50000},
		{"7.17.18", []int{7, 17, 18}, 71718, 71718},
		{"8.13.4", []int{8, 13, 4}, 81304, 81304},
		{"8.15", []int{8, 15}, 81500, 81500},
		{"8.7.0-SNAPSHOT", []int{8, 7, 0}, 80700, 80700},
		{"8.0.0-rc1", []int{8, 0, 0}, 80000, 80000},
		{"7.17.0-SNAPSHOT", []int{7, 17, 0}, 71700, 71700},
		{"7.4.1-rc1", []int{7, 4, 1}, 70401, 70401},
		{"17beta1", []int{17}, 170000, 170000},
		{"13.22", []int{13, 22}, 132200, 130022},
		{"9.6.3", []int{9, 6, 3}, 90603, 90603},
		{"10.0.0", []int{10, 0, 0}, 100000, 100000},
		{"1.10", []int{1, 10}, 11000, 11000},
		{"v1", []int{1}, 10000, 10000},
		{"8", []int{8}, 80000, 80000},
		{"255.255.255", []int{255, 255, 255}, 999999, 2550255},
		{"7.100.1", []int{7, 100, 1}, 79901, 79901},
		{"1.2.3.4", []int{1, 2, 3, 4}, -1, -1},
		{"", nil, -1, -1},
		{"garbage", nil, -1, -1},
		{"eight", nil, -1, -1},
		{"x.y", nil, -1, -1},
		{"1.x", nil, -1, -1},
		{"1..2", nil, -1, -1},
		{"1beta.2", nil, -1, -1},
	} {
		got, err := Parse(tc.in)
		if !slices.Equal(got, tc.want) || (err != nil) != (tc.want == nil) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		for name, f := range map[string]struct {
			fn   func(string) (int, error)
			want int
		}{"Number": {Number, tc.number}, "PostgresNumber": {PostgresNumber, tc.pg}} {
			n, err := f.fn(tc.in)
			if f.want < 0 && err == nil || f.want >= 0 && (err != nil || n != f.want) {
				t.Errorf("%s(%q) = %d, %v; want %d", name, tc.in, n, err, f.want)
			}
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1},
		{"1.9", "1.10", -1},
		{"2", "2.0", 0},
		{"2.0.1", "2.0", 1},
		{"1.8", "1.8", 0},
		{"1.4-1", "1.4", 0},
		{"8.0.0-rc1", "8.0.0", 0},
		{"v1.2", "1.2", 0},
		{"", "0", 0},
		{"garbage", "1", -1},
	} {
		if got := Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
