package secret

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

func TestDSNPasswords(t *testing.T) {
	for dsn, want := range map[string][]string{
		"postgres://exporter:s3cret@db:5432/temporal":                  {"s3cret"},
		"postgres://exporter:p%40ss%2Fw@db/temporal":                   {"p@ss/w"},
		"postgres://u:multi-pw@h1:5432,h2:5432/db":                     {"multi-pw", "multi-pw"},
		"postgres://u@db/x?password=in-query":                          {"in-query"},
		"host=db user=u password=kv-pass dbname=x":                     {"kv-pass"},
		"host=db password = 'quoted pass' dbname=x":                    {"quoted pass"},
		"postgres://exporter:Bad-Port-Pw@db:port/x":                    {"Bad-Port-Pw", "Bad-Port-Pw"},
		"postgres://nopassword@db/x":                                   nil,
		"host=db user=u dbname=x sslmode=require":                      nil,
		"postgresql://exporter:with:colon@db/temporal?sslmode=disable": {"with:colon"},
	} {
		got := DSNPasswords(dsn)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("%s: %q not found in %q", dsn, w, got)
			}
		}
		if len(want) == 0 && len(got) != 0 {
			t.Errorf("%s: found %q, want none", dsn, got)
		}
	}
}

func TestRedactor(t *testing.T) {
	var r Redactor
	r.Add("p@ss/word!", "", "abc", "longer-p@ss/word!-x")
	for in, want := range map[string]string{
		"dial postgres://u:p@ss/word!@h failed":           "dial postgres://u:" + Mask + "@h failed",
		"escaped postgres://u:p%40ss%2Fword%21@h":         "escaped postgres://u:" + Mask + "@h",
		"the longer one longer-p@ss/word!-x is whole":     "the longer one " + Mask + " is whole",
		"abc is too short to be a secret worth redacting": "abc is too short to be a secret worth redacting",
	} {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	if err := r.Error(errors.New("auth p@ss/word! rejected")); err.Error() != "auth "+Mask+" rejected" {
		t.Errorf("Error() = %v", err)
	}
	plain := errors.New("nothing to hide")
	if r.Error(plain) != plain || r.Error(nil) != nil {
		t.Error("Error() changed an error without secrets")
	}
	var nilR *Redactor
	if nilR.String("x") != "x" {
		t.Error("a nil Redactor must pass text through")
	}
}

func TestHandler(t *testing.T) {
	var r Redactor
	r.Add("Top-Secret-1")
	var buf bytes.Buffer
	log := slog.New(r.Handler(slog.NewTextHandler(&buf, nil))).With("dsn", "postgres://u:Top-Secret-1@h/db")
	log.Info("connecting with Top-Secret-1",
		"err", fmt.Errorf("wrapped: %w", errors.New("password Top-Secret-1 rejected")),
		slog.Group("g", "inner", "Top-Secret-1"),
		"n", 42,
		"any", []string{"Top-Secret-1"})
	out := buf.String()
	if strings.Contains(out, "Top-Secret-1") {
		t.Errorf("the log line shows the secret: %s", out)
	}
	for _, want := range []string{"msg=\"connecting with " + Mask + "\"", "n=42", "g.inner=" + Mask} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %q", out, want)
		}
	}
}
