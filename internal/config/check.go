package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	promconfig "github.com/prometheus/common/config"
)

// Check is what a target's Check is given: it reports problems at the file and line of the
// target's keys, registers secrets, and resolves what every kind needs the same way.
type Check struct {
	v    *validator
	base *Base
}

// Errorf reports a problem at path below the target ("urls", 2); nil is the target itself.
func (c *Check) Errorf(path []any, format string, args ...any) {
	c.v.errorf(at(c.base.path, path...), format, args...)
}

// Subject names the target in messages: redis target "cache".
func (c *Check) Subject() string { return fmt.Sprintf("%s target %q", c.base.kind, c.base.Name) }

// Secrets registers credentials, to be redacted from everything the exporter writes.
func (c *Check) Secrets(secrets ...string) { c.v.c.secrets = append(c.v.c.secrets, secrets...) }

// Duration checks the duration under key, and sets it to def when it is not given.
func (c *Check) Duration(key string, d *time.Duration, def time.Duration) {
	switch {
	case *d == 0:
		*d = def
	case *d < 0:
		c.Errorf([]any{key}, "%s %s must be positive", key, *d)
	}
}

// Cap checks a count of connections under key: def when not given, else 1 to most; on is
// what the connections go to, for the message (the server, the cluster).
func (c *Check) Cap(key string, n *int, def, most int, on string) {
	if *n == 0 {
		*n = def
	}
	if *n < 1 || *n > most {
		c.Errorf([]any{key}, "%s %d: want 1 to %d (the exporter should stay cheap on the %s)", key, *n, most, on)
	}
}

// From is one way a secret may be given: under a key of the target, in the file itself, in
// a file, or in an environment variable (Inline, InFile, InEnv).
type From struct {
	Key, Value string
	read       func(value string) promconfig.SecretReader
}

// Inline is a secret written in the configuration file itself (a DSN).
func Inline(key, value string) From {
	return From{Key: key, Value: value, read: func(s string) promconfig.SecretReader { return promconfig.NewInlineSecret(s) }}
}

// InFile is a secret read from a file, which holds it alone (surrounding space is dropped).
func InFile(key, file string) From {
	return From{Key: key, Value: file, read: func(s string) promconfig.SecretReader { return promconfig.NewFileSecret(s) }}
}

// InEnv is a secret read from an environment variable.
func InEnv(key, name string) From {
	return From{Key: key, Value: name, read: func(s string) promconfig.SecretReader { return envSecret(s) }}
}

// envSecret reads a secret from an environment variable: prometheus/common reads secrets from
// the file and from files, not from the environment.
type envSecret string

var errUnset = errors.New("is not set")

func (e envSecret) Fetch(context.Context) (string, error) {
	val, ok := os.LookupEnv(string(e))
	switch {
	case !ok:
		return "", errUnset
	case strings.TrimSpace(val) == "":
		return "", errors.New("is empty")
	}
	return strings.TrimSpace(val), nil
}

func (e envSecret) Description() string { return "environment variable " + string(e) }

func (envSecret) Immutable() bool { return true }

// Secret resolves a secret that may be given in the ways of from: at most one of them may
// be set, exactly one when required. It is read once, here; what names it in messages
// (Subject, and what: "password") goes before the problem. The caller registers it with
// Secrets: a whole DSN is no secret, its password is.
func (c *Check) Secret(what string, required bool, from ...From) string {
	if what != "" {
		what = " " + what
	}
	var set []From
	keys := make([]string, len(from))
	for i, f := range from {
		keys[i] = f.Key
		if f.Value != "" {
			set = append(set, f)
		}
	}
	list := strings.Join(keys[:len(keys)-1], ", ") + " or " + keys[len(keys)-1]
	switch {
	case len(set) > 1:
		c.Errorf(nil, "%s%s: set only one of %s", c.Subject(), what, list)
		return ""
	case len(set) == 0:
		if required {
			c.Errorf(nil, "%s%s: set one of %s", c.Subject(), what, list)
		}
		return ""
	}
	f := set[0]
	r := f.read(f.Value)
	val, err := r.Fetch(context.Background())
	switch {
	case err == nil:
		return val
	case errors.As(err, new(*os.PathError)):
		c.Errorf([]any{f.Key}, "%s %q: %s", f.Key, f.Value, osReason(err))
	default:
		c.Errorf([]any{f.Key}, "%s: %s %v", f.Key, r.Description(), err)
	}
	return ""
}
