package elasticsearch

import "testing"

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{"7.17.18": 71718, "8.13.4": 81304, "8.7.0-SNAPSHOT": 80700, "8.15": 81500} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "eight", "8", "7.100.1", "1.2.3.4"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q): no error", in)
		}
	}
}
