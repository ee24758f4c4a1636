package secret

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
)

// A password whose escaped and encoded forms all differ from it and from one another (its
// base64 has a + and padding).
const formsPassword = `S3cr3t-P@ss:w/rd?#%>>>`

// encodings returns s as every encoding reaches a log line: URL-escaped (query and path),
// base64 in both alphabets with and without padding, and the base64 forms URL-escaped.
func encodings(s string) map[string]string {
	b := []byte(s)
	out := map[string]string{
		"plain":      s,
		"query":      url.QueryEscape(s),
		"path":       url.PathEscape(s),
		"std":        base64.StdEncoding.EncodeToString(b),
		"url":        base64.URLEncoding.EncodeToString(b),
		"raw std":    base64.RawStdEncoding.EncodeToString(b),
		"raw url":    base64.RawURLEncoding.EncodeToString(b),
		"std, query": url.QueryEscape(base64.StdEncoding.EncodeToString(b)),
	}
	return out
}

func TestRedactorDerivedForms(t *testing.T) {
	var r Redactor
	r.Add(formsPassword)
	for name, form := range encodings(formsPassword) {
		in := "401: the server echoed <" + form + "> back"
		if got := r.String(in); strings.Contains(got, form) || got != "401: the server echoed <"+Mask+"> back" {
			t.Errorf("%s form %q: String = %q", name, form, got)
		}
	}
	// the forms really differ: an encoding that left the password as is would test nothing
	if f := encodings(formsPassword); f["std"] == f["url"] || f["query"] == f["path"] || f["query"] == formsPassword {
		t.Fatalf("the test password does not tell the encodings apart: %v", f)
	}
}

func TestRedactorBasicAuth(t *testing.T) {
	var r Redactor
	r.AddBasicAuth("exporter", formsPassword)
	token := base64.StdEncoding.EncodeToString([]byte("exporter:" + formsPassword))
	header := "Authorization: Basic " + token
	if got := r.String(header); got != "Authorization: Basic "+Mask {
		t.Errorf("String(%q) = %q", header, got)
	}
	for name, form := range encodings("exporter:" + formsPassword) {
		if got := r.String("x " + form + " y"); got != "x "+Mask+" y" {
			t.Errorf("user:password, %s form: String = %q", name, got)
		}
	}
	for name, form := range encodings(formsPassword) {
		if got := r.String("x " + form + " y"); got != "x "+Mask+" y" {
			t.Errorf("the password, %s form: String = %q", name, got)
		}
	}
	// the user name alone is no secret
	if got := r.String("user exporter"); got != "user exporter" {
		t.Errorf("the user name was redacted: %q", got)
	}
	// a password too short to be redacted alone still has its header token redacted
	var short Redactor
	short.AddBasicAuth("elastic", "pw")
	tok := base64.StdEncoding.EncodeToString([]byte("elastic:pw"))
	if got := short.String("Basic " + tok); got != "Basic "+Mask {
		t.Errorf("short password: String = %q", got)
	}
}

func TestRedactorAPIKey(t *testing.T) {
	const idKey = "key-id:Es-Api-Key-Secret"
	encoded := base64.StdEncoding.EncodeToString([]byte(idKey))
	for _, given := range []string{idKey, encoded} {
		var r Redactor
		r.AddAPIKey(given)
		for _, s := range []string{idKey, encoded, "Es-Api-Key-Secret", "ApiKey " + encoded,
			base64.RawURLEncoding.EncodeToString([]byte(idKey)), url.QueryEscape(idKey)} {
			if got := r.String("[" + s + "]"); strings.Contains(got, "Es-Api-Key-Secret") || strings.Contains(got, encoded) ||
				!strings.Contains(got, Mask) {
				t.Errorf("AddAPIKey(%q): String(%q) = %q", given, s, got)
			}
		}
		if got := r.String("id key-id"); got != "id key-id" {
			t.Errorf("AddAPIKey(%q) redacts the key's id: %q", given, got)
		}
	}
}

// Shorten redacts before it cuts: a secret the cut would split is masked whole, and the tail
// of a text that was itself cut (the first bytes of a longer body) drops a secret's beginning.
func TestRedactorShorten(t *testing.T) {
	var r Redactor
	r.Add(formsPassword)
	pad := strings.Repeat("x", 195)
	got := r.Shorten(pad+formsPassword+" and more", 200, false)
	if strings.Contains(got, formsPassword[:4]) || !strings.HasPrefix(got, pad) || !strings.HasSuffix(got, "...") || len(got) > 203 {
		t.Errorf("Shorten split the secret: %q", got)
	}
	// a body read up to a limit that falls inside the secret
	got = r.Shorten("denied: "+formsPassword[:9], 200, true)
	if strings.Contains(got, formsPassword[:9]) || got != "denied: ..." {
		t.Errorf("Shorten kept the beginning of a secret at the end of a cut text: %q", got)
	}
	if got := r.Shorten("short", 200, false); got != "short" {
		t.Errorf("Shorten(short) = %q", got)
	}
	// a cut inside a multi-byte character leaves valid UTF-8
	if got := r.Shorten(strings.Repeat("é", 150), 201, false); !strings.HasSuffix(got, "é...") || len(got) != 203 {
		t.Errorf("Shorten cut a character: %q", got)
	}
	var nilR *Redactor
	if got := nilR.Shorten(pad+"abcdefgh", 200, false); got != pad+"abcde..." {
		t.Errorf("nil Redactor: %q", got)
	}
}
