// Package size reads sizes written for people: 1048576, 512KiB, 1MiB, 2GiB, so that the
// configuration and the advisor's thresholds read them the same way.
package size

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Bytes is a size in bytes, written 1048576, 1MiB, 10MB (powers of 1024 either way) or 2GiB.
type Bytes float64

var bytesRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?i?B)?\s*$`)

// Parse reads a size.
func Parse(s string) (Bytes, error) {
	m := bytesRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes or 512KiB, 1MiB, 2GiB)", s)
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	switch strings.TrimSuffix(strings.ToUpper(m[2]), "B") {
	case "K", "KI":
		n *= 1 << 10
	case "M", "MI":
		n *= 1 << 20
	case "G", "GI":
		n *= 1 << 30
	case "T", "TI":
		n *= 1 << 40
	}
	return Bytes(n), nil
}

// UnmarshalYAML reads a size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 1MiB", n.Line)
	}
	v, err := Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// MarshalYAML writes a size as bytes.
func (b Bytes) MarshalYAML() (any, error) { return float64(b), nil }
