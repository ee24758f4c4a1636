package testenv

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

var chromiumRuns atomic.Int64

// Chromium runs headless Chromium (Debian's chromium package) on url with a window of
// width×height and the extra flags (--dump-dom, --disable-javascript, ...), and returns what
// it writes on stdout.
func Chromium(t testing.TB, url string, width, height int, flags ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("no chromium (make deps installs Debian's chromium): %v", err)
	}
	dir := t.TempDir()
	// a profile per run: a second Chromium on the same profile hands its URL to the first
	// and exits
	profile := filepath.Join(dir, fmt.Sprintf("profile%d", chromiumRuns.Add(1)))
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--no-first-run", "--hide-scrollbars",
		fmt.Sprintf("--window-size=%d,%d", width, height), "--user-data-dir=" + profile}, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", flags, err, stderr.String())
	}
	return out
}

// Screenshot loads url in headless Chromium with a window of width×height and returns the
// first viewport as an image.
func Screenshot(t testing.TB, url string, width, height int) image.Image {
	t.Helper()
	file := filepath.Join(t.TempDir(), "page.png")
	Chromium(t, url, width, height, "--screenshot="+file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return img
}

// Pixels counts the pixels of colour c in every second row and column of img within r.
func Pixels(img image.Image, r image.Rectangle, c color.RGBA) int {
	n := 0
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y += 2 {
		for x := r.Min.X; x < r.Max.X; x += 2 {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if uint8(pr>>8) == c.R && uint8(pg>>8) == c.G && uint8(pb>>8) == c.B {
				n++
			}
		}
	}
	return n
}
