package collector

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/persistence-exporter/persistence_exporter/internal/secret"
)

// TestTargetLogger: records of a target's logger carry the target first, as With put it, and
// stay redacted.
func TestTargetLogger(t *testing.T) {
	var buf bytes.Buffer
	red := &secret.Redactor{}
	red.Add("password-007")
	base := slog.New(red.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	l := targetLogger(base, "pg-007")
	l.Warn("query failed", "err", "connect as exporter:password-007 refused")
	l.With("db", "temporal").Info("a database", "n", 1)
	l.WithGroup("g").Info("grouped", "k", "v")
	if l.Handler().Enabled(context.Background(), slog.LevelDebug) {
		t.Error("debug is enabled: the base logger's level is lost")
	}
	want := `level=WARN msg="query failed" target=pg-007 err="connect as exporter:<redacted> refused"
level=INFO msg="a database" target=pg-007 db=temporal n=1
level=INFO msg=grouped target=pg-007 g.k=v
`
	if buf.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
}
