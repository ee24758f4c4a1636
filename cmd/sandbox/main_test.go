package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestDemo runs what `make demo` runs, in --check mode: the sandbox starts, both servers
// scrape with pg_up 1, and everything stops and is removed.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL (skipped under -short)")
	}
	bin := filepath.Join(t.TempDir(), "persistence_exporter")
	if out, err := exec.Command("go", "build", "-o", bin, "../persistence_exporter").CombinedOutput(); err != nil {
		t.Fatalf("building the exporter: %v\n%s", err, out)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, bin, fmt.Sprintf("127.0.0.1:%d", port), "../../testdata/seed", true); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{`pg_up{target="primary"} 1`, `pg_up{target="replica1"} 1`, `datname="temporal"`, "stopping PostgreSQL and removing"} {
		if !strings.Contains(text, want) {
			t.Errorf("the demo output lacks %q:\n%s", want, text)
		}
	}
	// nothing is left behind
	i := strings.Index(text, "(data in ")
	if i < 0 {
		t.Fatalf("no data dir in the output:\n%s", text)
	}
	dir := strings.SplitN(text[i+len("(data in "):], ")", 2)[0]
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the sandbox left %s behind (%v)", dir, err)
	}
}
