package elasticsearch

import (
	"strings"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/internal/config"
)

func TestElasticsearchMaxBodyBytes(t *testing.T) {
	c, err := config.Parse("es.yml", []byte(`targets:
  elasticsearch:
    - name: default
      urls: [http://10.0.0.1:9200]
    - name: big
      urls: [http://10.0.0.2:9200]
      max_body_bytes: 64MiB
    - name: plain
      urls: [http://10.0.0.3:9200]
      max_body_bytes: 1048576
`), testKinds)
	if err != nil {
		t.Fatal(err)
	}
	es := config.TargetsOf[*Target](c)
	for i, want := range []float64{0, 64 << 20, 1 << 20} {
		if got := float64(es[i].MaxBody); got != want {
			t.Errorf("%s: max_body_bytes %v, want %v", es[i].Name, got, want)
		}
	}

	_, err = config.Parse("bad.yml", []byte(`targets:
  elasticsearch:
    - name: tiny
      urls: [http://10.0.0.1:9200]
      max_body_bytes: 1KiB
    - name: huge
      urls: [http://10.0.0.2:9200]
      max_body_bytes: 2GiB
    - name: words
      urls: [http://10.0.0.3:9200]
      max_body_bytes: lots
`), testKinds)
	want := []string{
		`bad.yml:5: max_body_bytes 1KiB: want 64KiB to 1GiB (an answer is decoded whole, several times its size in memory)`,
		`bad.yml:8: max_body_bytes 2GiB: want 64KiB to 1GiB (an answer is decoded whole, several times its size in memory)`,
		`bad.yml:11: max_body_bytes: invalid size "lots" (want a number of bytes or 512KiB, 1MiB, 2GiB)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("errors:\n%s\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("error %d: %s, want %s", i, lines[i], w)
		}
	}
}
