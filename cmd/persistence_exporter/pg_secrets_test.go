package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// The password of the issue: every character a URL reserves.
const reservedPassword = "S3cr3t-P@ss:w/rd?#%"

// passwordForms are the ways a password can show up in text.
func passwordForms(user, pw string) []string {
	return []string{pw, url.QueryEscape(pw), url.PathEscape(pw), base64.StdEncoding.EncodeToString([]byte(user + ":" + pw)),
		base64.StdEncoding.EncodeToString([]byte(pw))}
}

// TestUnencodedDSNPassword: check-config and serve refuse a DSN whose password is not
// percent-encoded, with file:line and the advice, and print no part of the password.
func TestUnencodedDSNPassword(t *testing.T) {
	cfg := testenv.WriteFile(t, t.TempDir(), "unencoded.yml", "targets:\n  postgres:\n    - name: pg\n      dsn: \"postgres://u:"+reservedPassword+"@127.0.0.1:5432/db\"\n")
	for _, args := range [][]string{{"check-config", "--config.file=" + cfg}, {"--config.file=" + cfg, "--web.listen-address=127.0.0.1:0"}} {
		code, out, errOut := runCLI(args...)
		if code == 0 {
			t.Errorf("%v: exit 0", args)
		}
		text := out + errOut
		if !strings.Contains(text, "unencoded.yml:4:") || !strings.Contains(text, "percent-encode") {
			t.Errorf("%v: want unencoded.yml:4 and the advice to percent-encode, got %q", args, text)
		}
		for _, fragment := range []string{"S3cr3t", "P@ss", "@ss", "ss:w", "w/rd", "rd?", "#%", "%@"} {
			if strings.Contains(text, fragment) {
				t.Errorf("%v: the output shows %q of the password: %q", args, fragment, text)
			}
		}
	}
}

// TestScramAuthFailure: a role with a scram-sha-256 password, reached through a
// scram-only pg_hba line; the target with the right (percent-encoded) password is up, the
// one with a wrong password is down, and neither password shows in metrics, logs or the
// advisor's report, in any encoding.
func TestScramAuthFailure(t *testing.T) {
	pg := env.Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.Primary.Exec(ctx, "postgres",
		"SET password_encryption = 'scram-sha-256'",
		"DROP ROLE IF EXISTS scram_user",
		"CREATE ROLE scram_user LOGIN PASSWORD '"+reservedPassword+"'",
		"GRANT pg_monitor TO scram_user"); err != nil {
		t.Fatal(err)
	}
	hba := filepath.Join(pg.Primary.DataDir, "pg_hba.conf")
	old := testenv.ReadFile(t, hba)
	line := "host all scram_user 127.0.0.1/32 scram-sha-256\n"
	if !strings.HasPrefix(string(old), line) {
		if err := os.WriteFile(hba, append([]byte(line), old...), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := pg.Primary.Exec(ctx, "postgres", "SELECT pg_reload_conf()"); err != nil {
			t.Fatal(err)
		}
	}
	const wrong = "Wr0ng-P@ss:w/rd#1"
	dsn := func(pw string) string {
		u := url.URL{Scheme: "postgres", User: url.UserPassword("scram_user", pw), Host: fmt.Sprintf("127.0.0.1:%d", pg.Primary.Port),
			Path: "/postgres", RawQuery: "sslmode=disable"}
		return u.String()
	}
	dir := t.TempDir()
	t.Setenv("SCRAM_WRONG_DSN", dsn(wrong))
	cfg := testenv.WriteFile(t, dir, "scram.yml", fmt.Sprintf(`targets:
  postgres:
    - name: good
      dsn: %q
    - name: wrong
      dsn_env: SCRAM_WRONG_DSN
`, dsn(reservedPassword)))
	ex := startExporter(t, cfg)
	metrics := ex.get(t, "/metrics", "X-Prometheus-Scrape-Timeout-Seconds", "5")
	for _, want := range []string{`pg_up{target="good"} 1`, `pg_up{target="wrong"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	logs := ex.logs.String()
	if !strings.Contains(logs, "password authentication failed") {
		t.Errorf("the log does not say why the target is down:\n%s", logs)
	}
	report := ""
	if ex.adv == nil {
		t.Fatal("no advisor for PostgreSQL targets")
	}
	ex.adv.Run(ctx)
	report = ex.get(t, "/advisor.json") + ex.get(t, "/advisor")
	for _, pw := range []string{reservedPassword, wrong} {
		for _, form := range passwordForms("scram_user", pw) {
			for name, text := range map[string]string{"/metrics": metrics, "the log": logs, "the advisor's report": report} {
				if strings.Contains(text, form) {
					t.Errorf("%s shows %q (a form of a password)", name, form)
				}
			}
		}
	}
}
