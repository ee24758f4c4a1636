// Package secret keeps passwords out of everything the exporter writes: a Redactor knows the
// secrets of the configuration and replaces them in strings, errors and log records.
package secret

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Mask replaces a secret.
const Mask = "<redacted>"

// MinLength is the shortest secret that is redacted: shorter strings occur in ordinary text
// too often for a replacement to keep messages readable.
const MinLength = 4

// Redactor replaces known secrets. The zero value is ready; it is safe for concurrent use.
type Redactor struct {
	mu      sync.RWMutex
	secrets []string
	seen    map[string]struct{}
	// replacer masks every secret in one pass over a text; nil after a change, made again
	// at the next use. A loop of strings.Contains per secret cost each log line time in
	// proportion to the secrets of the configuration: with 150,000 targets, every line.
	replacer *strings.Replacer
}

// Add registers secrets; empty and too-short ones are ignored. The forms a secret takes when
// it is printed or sent are registered too (see forms): a DSN prints a password URL-escaped,
// an HTTP header carries it in base64, a JSON error escapes it.
func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if len(s) < MinLength {
			continue
		}
		r.addForms(s)
	}
	r.sortLocked()
}

// AddBasicAuth registers the credentials of HTTP basic auth: the password (in the forms of
// Add), and the token of the Authorization header, base64 of user:password, in the forms of
// Add too. The token is registered even when the password is too short to be redacted
// alone: it gives the password away. The user name alone is no secret.
func (r *Redactor) AddBasicAuth(user, password string) {
	if password == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(password) >= MinLength {
		r.addForms(password)
	}
	r.addForms(user + ":" + password)
	r.sortLocked()
}

// AddAPIKey registers an Elasticsearch API key, given as "id:api_key" or as the base64
// "encoded" value Elasticsearch returns: both forms (each in the forms of Add) and the
// api_key part alone. The id alone is no secret.
func (r *Redactor) AddAPIKey(key string) {
	if key == "" {
		return
	}
	idKey := key
	if !strings.Contains(key, ":") {
		if b, err := base64.StdEncoding.DecodeString(key); err == nil && strings.Contains(string(b), ":") {
			idKey = string(b)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addForms(key)
	if _, k, ok := strings.Cut(idKey, ":"); ok {
		r.addForms(idKey)
		if len(k) >= MinLength {
			r.addForms(k)
		}
	}
	r.sortLocked()
}

// forms returns s as it may appear in text: as is; URL-escaped for a query and for a path;
// in base64, both alphabets, with and without padding (and the padded standard form
// URL-escaped); JSON-escaped, with and without the escaping of <, > and &.
func forms(s string) []string {
	out := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	b := []byte(s)
	std := base64.StdEncoding.EncodeToString(b)
	out = append(out, std, url.QueryEscape(std),
		base64.URLEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	if j, err := json.Marshal(s); err == nil {
		out = append(out, string(j[1:len(j)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		j := bytes.TrimSpace(buf.Bytes())
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}

// addForms registers the forms of s; r.mu is held.
func (r *Redactor) addForms(s string) {
	for _, form := range forms(s) {
		if _, dup := r.seen[form]; len(form) >= MinLength && !dup {
			if r.seen == nil {
				r.seen = map[string]struct{}{}
			}
			r.seen[form] = struct{}{}
			r.secrets = append(r.secrets, form)
			r.replacer = nil
		}
	}
}

// sortLocked puts longer secrets first, so that one secret inside another leaves no tail;
// r.mu is held.
func (r *Redactor) sortLocked() {
	slices.SortStableFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
}

// masker returns the replacer of the current secrets, or nil when there are none.
func (r *Redactor) masker() *strings.Replacer {
	r.mu.RLock()
	rep, n := r.replacer, len(r.secrets)
	r.mu.RUnlock()
	if rep != nil || n == 0 {
		return rep
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replacer == nil {
		// longest first: at one position the first pair given wins, so a secret inside a
		// longer one leaves no tail
		pairs := make([]string, 0, 2*len(r.secrets))
		for _, sec := range r.secrets {
			pairs = append(pairs, sec, Mask)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
	return r.replacer
}

// String returns s with every secret masked.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	if m := r.masker(); m != nil {
		return m.Replace(s)
	}
	return s
}

// Shorten returns s redacted and cut to at most n bytes, on a character boundary, with "..."
// after a cut. Redaction comes first, so that a cut cannot leave part of a secret that no
// longer matches. When truncated is set, s is itself the beginning of a longer text (a body
// read up to a limit): a tail of s that may be the beginning of a secret is dropped as well.
func (r *Redactor) Shorten(s string, n int, truncated bool) string {
	s = r.String(s)
	if truncated {
		s = s[:len(s)-r.partialTail(s)]
	}
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s, truncated = s[:cut], true
	}
	if truncated {
		s += "..."
	}
	return s
}

// partialTail returns the length of the longest tail of s that begins a secret.
func (r *Redactor) partialTail(s string) int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	longest := 0
	for _, sec := range r.secrets {
		for k := min(len(sec)-1, len(s)); k > longest; k-- {
			if strings.HasSuffix(s, sec[:k]) {
				longest = k
				break
			}
		}
	}
	return longest
}

// Error returns err with its message redacted (nil stays nil). The result no longer unwraps.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return redactedError(red)
}

type redactedError string

func (e redactedError) Error() string { return string(e) }

var kvPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// DSNPasswords returns the passwords written in a PostgreSQL connection string, URL or
// key/value form, without needing the string to be valid.
func DSNPasswords(dsn string) []string {
	var out []string
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			out = append(out, p)
		}
	} else if i := strings.Index(dsn, "://"); i >= 0 {
		// not a valid URL (several hosts, a bad port): take user:password@ by hand
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				p := rest[c+1 : at]
				out = append(out, p)
				if up, err := url.PathUnescape(p); err == nil {
					out = append(out, up)
				}
			}
		}
	}
	if u, err := url.Parse(dsn); err == nil {
		if p := u.Query().Get("password"); p != "" {
			out = append(out, p)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		p := m[1]
		if strings.HasPrefix(p, "'") {
			p = strings.ReplaceAll(strings.Trim(p, "'"), `\'`, `'`)
		}
		out = append(out, p)
	}
	return out
}

// Handler wraps a slog.Handler so that messages and attribute values are redacted.
func (r *Redactor) Handler(h slog.Handler) slog.Handler {
	return &handler{next: h, r: r}
}

type handler struct {
	next slog.Handler
	r    *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = h.attr(ga)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
		return slog.String(a.Key, h.r.String(v.String()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &handler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}
