// Package size reads sizes written for people: 1048576, 512KiB, 1MiB, 2GiB, so that the
// configuration and the advisor's thresholds read them the same way.
package size

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/persistence-exporter/persistence_exporter/internal/units"
)

// Bytes is a size in bytes, written 1048576, 1MiB, 10MB (powers of 1024 either way) or 2GiB.
type Bytes float64

// Parse reads a size: bytes, or 512KiB, 1MiB, 2GiB (units.Sizes).
func Parse(s string) (Bytes, error) {
	n, ok := units.Parse(s, units.Sizes)
	if !ok || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want a number of bytes or 512KiB, 1MiB, 2GiB)", s)
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
