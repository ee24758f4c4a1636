package testenv

import (
	"os"
	"path/filepath"
	"strings"
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

// YAMLBlock is the first yaml code block of the Markdown file after the text after (a
// heading, a paragraph's opening): the README's examples are tested as they are written.
func YAMLBlock(t testing.TB, file, after string) string {
	t.Helper()
	_, section, ok := strings.Cut(string(ReadFile(t, file)), after)
	if !ok {
		t.Fatalf("%s has no %q", file, after)
	}
	_, block, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatalf("%s has no yaml block after %q", file, after)
	}
	block, _, _ = strings.Cut(block, "```")
	return block
}

// ReadFile is the content of file; a failure to read fails the test.
func ReadFile(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
