// Package version reads the version strings servers and extensions report ("7.2.4",
// "8.0.0-rc1", "17beta1", "1.10") into numbers: one parser, so that every source and every
// gate reads the edges the same way.
package version

import (
	"fmt"
	"strconv"
	"strings"
)

// Parse reads a dotted version into its numbers. A leading "v" is allowed, and so is a
// pre-release or build suffix after the last number ("8.0.0-rc1", "7.17.0-SNAPSHOT",
// "17beta1", "1.6+dfsg"): the suffix is dropped, so "8.0.0-rc1" reads as 8.0.0.
func Parse(s string) ([]int, error) {
	core := strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V")
	if i := strings.IndexAny(core, "-+"); i >= 0 {
		core = core[:i]
	}
	parts := strings.Split(core, ".")
	nums := make([]int, 0, len(parts))
	for i, p := range parts {
		digits := p
		if j := strings.IndexFunc(p, func(r rune) bool { return r < '0' || r > '9' }); j >= 0 {
			if i != len(parts)-1 { // a suffix only after the last number
				return nil, fmt.Errorf("cannot read version %q", s)
			}
			digits = p[:j]
		}
		n, err := strconv.Atoi(digits)
		if err != nil {
			return nil, fmt.Errorf("cannot read version %q", s)
		}
		nums = append(nums, n)
	}
	return nums, nil
}

// Number reads up to three numbers as major*10000 + minor*100 + patch: "7.2.4" is 70204, as
// Redis, Elasticsearch and pgBackRest versions are compared. A number above 99 counts as 99, so
// that Redis' unstable branch (255.255.255) sorts after every release.
func Number(s string) (int, error) {
	nums, err := three(s)
	if err != nil {
		return 0, err
	}
	return min(nums[0], 99)*10000 + min(nums[1], 99)*100 + min(nums[2], 99), nil
}

// three reads a version of up to three numbers, the missing ones 0.
func three(s string) ([3]int, error) {
	var nums [3]int
	parsed, err := Parse(s)
	if err != nil {
		return nums, err
	}
	if len(parsed) > 3 {
		return nums, fmt.Errorf("cannot read version %q: more than three numbers", s)
	}
	copy(nums[:], parsed)
	return nums, nil
}

// PostgresNumber reads a PostgreSQL version as server_version_num does: "13.4" is 130004
// and "9.6.3" is 90603 (from 10 on the second number is the minor release).
func PostgresNumber(s string) (int, error) {
	nums, err := three(s)
	if err != nil || nums[0] < 10 {
		return Number(s)
	}
	return nums[0]*10000 + nums[1], nil
}

// Compare compares two versions number by number, a missing number counting as 0: "1.10" is
// after "1.9", "2" equals "2.0". A version that does not read counts as 0.
func Compare(a, b string) int {
	x, _ := Parse(a)
	y, _ := Parse(b)
	for i := range max(len(x), len(y)) {
		var m, n int
		if i < len(x) {
			m = x[i]
		}
		if i < len(y) {
			n = y[i]
		}
		if m != n {
			if m < n {
				return -1
			}
			return 1
		}
	}
	return 0
}
