// Package units reads numbers with a unit suffix ("512KiB", "1.5gb", "30s", "8MB"), by tables
// of the units each format knows: one parser for the config file's sizes, postgresql.conf
// values and Elasticsearch's byte sizes and time values.
package units

import (
	"regexp"
	"strconv"
	"strings"
)

// Unit is a suffix and what one of it is worth in the base unit (bytes, seconds).
type Unit struct {
	Suffix string
	Mult   float64
}

var numberRe = regexp.MustCompile(`^-?[0-9]+(?:\.[0-9]+)?$`)

// Parse reads a decimal number ("12", "-1", "1.5") followed, after optional spaces, by the
// suffix of one of units, and returns the number times the unit. The first unit whose suffix
// s ends with is taken: a table lists "ms" before "s". A bare number needs a unit with the
// empty suffix. Suffixes match exactly (case included): a caller that ignores case lowers s.
func Parse(s string, units []Unit) (float64, bool) {
	s = strings.TrimSpace(s)
	for _, u := range units {
		num, found := strings.CutSuffix(s, u.Suffix)
		if !found {
			continue
		}
		num = strings.TrimSpace(num)
		if !numberRe.MatchString(num) {
			continue // "ms" is not a number of "s"
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, false
		}
		return f * u.Mult, true
	}
	return 0, false
}

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
	tib = 1 << 40
	pib = 1 << 50
)

// Sizes are the config file's sizes: bytes, or K, M, G, T (binary multiples) with B or iB
// ("512KiB", "1MB", "2GiB", "100B", "100").
var Sizes = []Unit{
	{"TiB", tib}, {"GiB", gib}, {"MiB", mib}, {"KiB", kib},
	{"TB", tib}, {"GB", gib}, {"MB", mib}, {"KB", kib}, {"B", 1}, {"", 1},
}

// Postgres are postgresql.conf's memory and time units, in bytes and seconds (a bare number
// is in the setting's own unit).
var Postgres = []Unit{
	{"kB", kib}, {"MB", mib}, {"GB", gib}, {"TB", tib}, {"B", 1},
	{"ms", 0.001}, {"min", 60}, {"s", 1}, {"h", 3600}, {"d", 86400}, {"", 1},
}

// ElasticsearchBytes are Elasticsearch's byte size units (its ByteSizeValue, binary
// multiples), lower case.
var ElasticsearchBytes = []Unit{{"pb", pib}, {"tb", tib}, {"gb", gib}, {"mb", mib}, {"kb", kib}, {"b", 1}}

// ElasticsearchTime are Elasticsearch's time units (its TimeValue), in seconds.
var ElasticsearchTime = []Unit{
	{"nanos", 1e-9}, {"micros", 1e-6}, {"ms", 1e-3}, {"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1},
}
