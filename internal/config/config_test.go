package config

import (
	"slices"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"

	"github.com/persistence-exporter/persistence_exporter/internal/testcert"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// thing is a kind of target made up for these tests: the checks every kind shares, through
// Check, with no kind of the exporter's.
type thing struct {
	Base         `yaml:",inline"`
	Token        string        `yaml:"token"`
	TokenFile    string        `yaml:"token_file"`
	TokenEnv     string        `yaml:"token_env"`
	TLS          *TLS          `yaml:"tls"`
	Timeout      time.Duration `yaml:"timeout"`
	Conns        int           `yaml:"conns"`
	ResolvedTok  string        `yaml:"-"`
	HasTLSConfig bool          `yaml:"-"`
}

func (t *thing) SetDirectory(dir string) {
	t.TokenFile = promconfig.JoinDir(dir, t.TokenFile)
	t.TLS.SetDirectory(dir)
}

func (t *thing) Check(c *Check) {
	t.ResolvedTok = c.Secret("token", false, Inline("token", t.Token), InFile("token_file", t.TokenFile), InEnv("token_env", t.TokenEnv))
	c.Secrets(t.ResolvedTok)
	if t.TLS != nil {
		t.HasTLSConfig = c.TLS("tls", *t.TLS) != nil
	}
	c.Duration("timeout", &t.Timeout, 3*time.Second)
	c.Cap("conns", &t.Conns, 2, 5, "thing")
}

var thingKinds = []TargetKind{{Key: "thing", New: func() Target { return new(thing) }}, {Key: "other", New: func() Target { return new(thing) }}}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("/nonexistent/persistence_exporter.yml", thingKinds)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/persistence_exporter.yml") {
		t.Errorf("err = %v", err)
	}
}

// TestTargets: the kinds' lists decode into the kinds' types, in the order of the kinds,
// each knowing its kind, place, name and cluster; secrets are read from the file, a file
// or the environment, relative paths from the file's directory, and defaults filled in.
func TestTargets(t *testing.T) {
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "token", "Token-From-File-1\n")
	t.Setenv("TEST_THING_TOKEN", " Token-From-Env-2 ")
	file := testenv.WriteFile(t, dir, "c.yml", `targets:
  other:
    - name: o
      token_env: TEST_THING_TOKEN
      cluster: temporal
  thing:
    - name: a
      token_file: token
      conns: 5
    - name: b
      token: Token-Inline-3
      timeout: 1m
`)
	c, err := Load(file, thingKinds)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range c.Targets {
		b, th := BaseOf(tg), tg.(*thing)
		got = append(got, strings.Join([]string{b.Kind(), b.Name, b.Cluster, th.ResolvedTok, th.Timeout.String()}, " "))
	}
	want := []string{"thing a  Token-From-File-1 3s", "thing b  Token-Inline-3 1m0s", "other o temporal Token-From-Env-2 3s"}
	if !slices.Equal(got, want) {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p := BaseOf(c.Targets[1]).Path(); !slices.Equal(p, []any{"targets", "thing", 1}) {
		t.Errorf("path %v", p)
	}
	if n := len(TargetsOf[*thing](c)); n != 3 {
		t.Errorf("TargetsOf: %d targets", n)
	}
	for _, s := range []string{"Token-From-File-1", "Token-From-Env-2", "Token-Inline-3"} {
		if !slices.Contains(c.Secrets(), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}

func TestTargetErrors(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := testcert.SelfSigned(t, dir, "a")
	otherCert, _, _ := testcert.SelfSigned(t, dir, "b")
	t.Setenv("EMPTY_TOKEN", "")
	_, err := Parse("bad.yml", []byte(`targets:
  thing:
    - name: a
      token: x
      token_env: EMPTY_TOKEN
    - name: b
      token_env: UNSET_TOKEN_VARIABLE
    - name: c
      token_file: /nonexistent/token
      conns: 9
      timeout: -1s
    - name: a
      tls: {cert_file: `+cert+`}
    - name: d
      tls: {ca_file: `+key+`}
    - name: e
      tls: {cert_file: `+otherCert+`, key_file: `+key+`}
    - name: f
      tls:
        cert_file: /nonexistent/cert.pem
        key_file: `+key+`
    - name: g
      tls: {ca_file: /nonexistent/ca.pem}
  other:
    - cluster: x
`), thingKinds)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`bad.yml:3: thing target "a" token: set only one of token, token_file or token_env`,
		`bad.yml:7: token_env: environment variable UNSET_TOKEN_VARIABLE is not set`,
		`bad.yml:9: token_file "/nonexistent/token": no such file or directory`,
		`bad.yml:10: conns 9: want 1 to 5 (the exporter should stay cheap on the thing)`,
		`bad.yml:11: timeout -1s must be positive`,
		`bad.yml:12: target name "a" is already used at line 3`,
		`bad.yml:13: thing target "a": tls needs both cert_file and key_file, or neither`,
		`bad.yml:15: ca_file "` + key + `" has no PEM certificate`,
		`bad.yml:17: cert_file "` + otherCert + `" and key_file "` + key + `": tls: private key does not match public key`,
		`bad.yml:19: tls /nonexistent/cert.pem: no such file or directory`,
		`bad.yml:23: ca_file "/nonexistent/ca.pem": no such file or directory`,
		`bad.yml:25: a other target needs a name`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

func TestNoTargets(t *testing.T) {
	_, err := Parse("none.yml", []byte("targets: {}\n"), thingKinds)
	if err == nil || err.Error() != "none.yml:1: no targets: add at least one under targets.thing or .other" {
		t.Errorf("err = %v", err)
	}
	_, err = Parse("unknown.yml", []byte("targets:\n  thingz: []\n"), thingKinds)
	if err == nil || !strings.HasPrefix(err.Error(), `unknown.yml:2: unknown key "thingz" in targets (did you mean "thing"?)`) {
		t.Errorf("err = %v", err)
	}
}
