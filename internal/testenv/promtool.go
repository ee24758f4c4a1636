package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// CheckMetrics runs `promtool check metrics` (Debian's prometheus package) on an exposition
// text and reports what it finds as test errors.
func CheckMetrics(t testing.TB, text string) {
	t.Helper()
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
