package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// PGVersion is a PostgreSQL major the version-matrix tests run.
type PGVersion struct {
	Major int
	Bin   string
	Env   []string // LD_LIBRARY_PATH for an extracted build
}

// Options returns the options that start a cluster of this version.
func (v PGVersion) Options() PGOptions { return PGOptions{Bin: v.Bin, Env: v.Env, Replica: true} }

// MatrixMajors are the majors of the version matrix: the installed 15 and, fetched from
// Debian's other suites by scripts/pg-matrix.sh, 13, 17 and 18. 18 comes from Debian's testing
// suite, which may stop serving it: then it is left out with a note; the others must work.
var MatrixMajors = []int{13, 15, 17, 18}

// optionalMajors may be missing from the matrix.
var optionalMajors = map[int]bool{18: true}

// PGMatrix returns the PostgreSQL versions to test, fetching the ones that are not installed
// (cached across runs). $PE_PG_MATRIX (e.g. "15,17") narrows the list.
func PGMatrix(t testing.TB) []PGVersion {
	t.Helper()
	if testing.Short() {
		t.Skip("the version matrix starts servers (skipped under -short)")
	}
	majors := MatrixMajors
	if env := os.Getenv("PE_PG_MATRIX"); env != "" {
		majors = nil
		for _, f := range strings.Split(env, ",") {
			m, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("PE_PG_MATRIX=%q: %v", env, err)
			}
			majors = append(majors, m)
		}
	}
	var out []PGVersion
	for _, m := range majors {
		if m == 15 {
			out = append(out, PGVersion{Major: 15, Bin: DefaultPGBin})
			continue
		}
		v, err := fetchMajor(m)
		if err != nil {
			if optionalMajors[m] {
				t.Logf("PostgreSQL %d left out of the matrix: %v", m, err)
				continue
			}
			t.Fatalf("PostgreSQL %d: %v", m, err)
		}
		out = append(out, v)
	}
	return out
}

// fetchMajor runs scripts/pg-matrix.sh for one major and reads its answer: MAJOR BIN [LIBDIR].
// PGMajor returns one PostgreSQL major of the matrix, fetching it when it is not installed;
// under -short it skips the test, and a failed fetch fails it.
func PGMajor(t testing.TB, major int) PGVersion {
	t.Helper()
	if testing.Short() {
		t.Skipf("PostgreSQL %d is a real server (skipped under -short)", major)
	}
	if major == 15 {
		return PGVersion{Major: 15, Bin: DefaultPGBin}
	}
	v, err := fetchMajor(major)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fetchMajor(major int) (PGVersion, error) {
	script := filepath.Join(repoRoot(), "scripts", "pg-matrix.sh")
	cmd := exec.Command(script, strconv.Itoa(major))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return PGVersion{}, fmt.Errorf("%s %d: %w\n%s", script, major, err, tail(errb.String(), 10))
	}
	f := strings.Fields(out.String())
	if len(f) < 2 {
		return PGVersion{}, fmt.Errorf("%s %d printed %q", script, major, out.String())
	}
	v := PGVersion{Major: major, Bin: f[1]}
	if len(f) > 2 {
		v.Env = []string{"LD_LIBRARY_PATH=" + f[2]}
	}
	return v, nil
}

// repoRoot is the repository's top directory: the nearest parent of the working directory
// (a test runs in its package's directory) that holds go.mod.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return "."
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
