package config

import (
	"crypto/tls"
	"errors"
	"os"

	promconfig "github.com/prometheus/common/config"
)

// TLS is how a target's server is verified and how the exporter shows itself to it, under
// the keys of Prometheus' own tls_config. It is read by prometheus/common's config package.
type TLS struct {
	// CAFile is PEM: the authorities that sign the server's certificate (default: the
	// system's).
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key, both or neither. They are
	// read again at each handshake, so that a renewed certificate is used without a restart.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must carry (default: the host).
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// SetDirectory makes the relative paths relative to dir.
func (t *TLS) SetDirectory(dir string) {
	if t == nil {
		return
	}
	t.CAFile = promconfig.JoinDir(dir, t.CAFile)
	t.CertFile = promconfig.JoinDir(dir, t.CertFile)
	t.KeyFile = promconfig.JoinDir(dir, t.KeyFile)
}

// TLS checks t, found under key of the target ("" when its keys are the target's own), and
// returns the client configuration prometheus/common makes of it (TLS 1.2 at least), or nil
// when it has a problem. Files are read now, so that check-config finds what is missing.
func (c *Check) TLS(key string, t TLS) *tls.Config {
	name, block, keyAt := "tls", []any(nil), func(k string) []any { return []any{k} }
	if key != "" {
		name, block, keyAt = key, []any{key}, func(k string) []any { return []any{key, k} }
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		c.Errorf(block, "%s: %s needs both cert_file and key_file, or neither", c.Subject(), name)
		return nil
	}
	pc := &promconfig.TLSConfig{
		CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: promconfig.TLSVersion(tls.VersionTLS12),
	}
	cfg, err := promconfig.NewTLSConfig(pc)
	if err == nil {
		return cfg
	}
	// prometheus/common's messages name its own steps; these name the key to change
	var pe *os.PathError
	switch {
	case errors.As(err, &pe) && pe.Path == t.CAFile:
		c.Errorf(keyAt("ca_file"), "ca_file %q: %s", t.CAFile, osReason(err))
	case errors.As(err, &pe):
		c.Errorf(block, "%s %s: %s", name, pe.Path, osReason(err))
	case t.CAFile != "" && !caReadable(t.CAFile):
		c.Errorf(keyAt("ca_file"), "ca_file %q has no PEM certificate", t.CAFile)
	default:
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		c.Errorf(keyAt("cert_file"), "cert_file %q and key_file %q: %v", t.CertFile, t.KeyFile, err)
	}
	return nil
}

// caReadable reports whether prometheus/common reads a CA certificate from file alone.
func caReadable(file string) bool {
	_, err := promconfig.NewTLSConfig(&promconfig.TLSConfig{CAFile: file})
	return err == nil
}
