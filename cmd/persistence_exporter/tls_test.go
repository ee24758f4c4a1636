package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/persistence-exporter/persistence_exporter/collector/elasticsearch/estest"
	"github.com/persistence-exporter/persistence_exporter/internal/testcert"
	"github.com/persistence-exporter/persistence_exporter/internal/testenv"
)

// TestServeTLS runs the real serve path with a --web.config.file that serves TLS with a
// self-signed certificate and asks for basic auth: a client that trusts the certificate and
// sends the credentials gets the metrics, and nothing else does.
func TestServeTLS(t *testing.T) {
	es := estest.New(t, "8.13", false)
	dir := t.TempDir()
	cfg := testenv.WriteFile(t, dir, "config.yml", fmt.Sprintf("targets:\n  elasticsearch:\n    - name: es\n      urls: [%s]\n", es.URL))
	certFile, keyFile, cert := testcert.SelfSigned(t, dir, "persistence_exporter test", "127.0.0.1")
	const user, password = "prometheus", "Tls-Web-Pass-123"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := testenv.WriteFile(t, dir, "web.yml", fmt.Sprintf(`tls_server_config:
  cert_file: %s
  key_file: %s
basic_auth_users:
  %s: %s
`, certFile, keyFile, user, hash))
	if code, out, errOut := runCLI("check-config", "--config.file="+cfg, "--web.config.file="+webCfg); code != 0 {
		t.Fatalf("check-config with a TLS web config: exit %d %s %s", code, out, errOut)
	}

	addr, done, stderr := serveInBackground(t, "--config.file="+cfg, "--web.config.file="+webCfg)
	stopped := false
	stop := func() {
		// serve has its signal handler installed once it listens: SIGTERM ends it cleanly
		stopped = true
		stopServe(t, done, stderr)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	// wait for the listener; the limit only bounds a test that would otherwise hang
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots})
		if err == nil {
			c.Close()
			break
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			break // it listens, but not as it should: the checks below tell how
		}
		select {
		case code := <-done:
			t.Fatalf("serve ended with %d before listening:\n%s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exporter did not listen: %v\n%s", err, stderr.String())
		}
	}
	defer func() {
		if !stopped {
			stop()
		}
	}()

	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}, Timeout: 30 * time.Second}
	get := func(c *http.Client, url string, auth bool) (*http.Response, string, error) {
		req, err := http.NewRequest("GET", url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(user, password)
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}

	// trusted and authenticated: the metrics, over TLS
	resp, body, err := get(trusting, "https://"+addr+"/metrics", true)
	if err != nil {
		t.Fatalf("HTTPS GET /metrics with the certificate trusted: %v\n%s", err, stderr.String())
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `elasticsearch_up{target="es"} 1`) || !strings.Contains(body, "persistence_exporter_build_info{") {
		t.Errorf("HTTPS GET /metrics: %s\n%.500s", resp.Status, body)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(cert) {
		t.Error("the answer did not come over TLS with the configured certificate")
	}
	// the same page without credentials, or with a wrong password: 401
	if resp, body, err := get(trusting, "https://"+addr+"/metrics", false); err != nil || resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "elasticsearch_up") {
		t.Errorf("HTTPS GET /metrics without credentials: %v %v, want 401\n%.300s", respStatus(resp), err, body)
	}
	req, _ := http.NewRequest("GET", "https://"+addr+"/metrics", nil)
	req.SetBasicAuth(user, "wrong")
	if resp, err := trusting.Do(req); err != nil {
		t.Errorf("HTTPS GET /metrics with a wrong password: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("HTTPS GET /metrics with a wrong password: %s, want 401", resp.Status)
		}
	}

	// plain HTTP, even with the credentials, gets no metrics
	plain := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer plain.CloseIdleConnections()
	if resp, body, err := get(plain, "http://"+addr+"/metrics", true); err == nil && (resp.StatusCode == http.StatusOK || strings.Contains(body, "elasticsearch_up")) {
		t.Errorf("plain HTTP GET /metrics: %s\n%.300s", resp.Status, body)
	}

	// a client that does not trust the certificate fails the handshake: with the system's
	// roots, and with another CA
	for name, pool := range map[string]*x509.CertPool{"system roots": nil, "another CA": otherCAPool(t)} {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
		resp, _, err := get(c, "https://"+addr+"/metrics", true)
		var verr *tls.CertificateVerificationError
		if !errors.As(err, &verr) {
			t.Errorf("HTTPS GET /metrics trusting %s: %v, %v; want a certificate verification error", name, respStatus(resp), err)
		}
		c.CloseIdleConnections()
	}

	trusting.CloseIdleConnections()
	stop()
	if strings.Contains(stderr.String(), password) {
		t.Errorf("the log shows the web password:\n%s", stderr.String())
	}
}

func otherCAPool(t *testing.T) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(estest.OtherCA(t)) {
		t.Fatal("estest.OtherCA: no certificate")
	}
	return pool
}

func respStatus(resp *http.Response) string {
	if resp == nil {
		return "no answer"
	}
	return resp.Status
}
