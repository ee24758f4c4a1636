package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes text to the file name in dir, readable by its owner only (it often holds
// a secret), and returns its path; a failure to write fails the test.
func WriteFile(t testing.TB, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
