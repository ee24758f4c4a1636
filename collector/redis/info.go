package redis

import (
	"strings"
)

// Field is one "name:value" line of an INFO reply.
type Field struct {
	Section string // the "# Section" it appeared under, as written ("Keyspace")
	Name    string
	Value   string
}

// Info is a parsed INFO reply: its fields in the order Redis wrote them.
type Info []Field

// ParseInfo parses INFO text. Lines end in CRLF or LF; "# Section" lines name the section of
// the fields that follow; blank lines and lines without a colon are skipped. The value is
// everything after the first colon (sentinel's master0 holds address=host:port).
func ParseInfo(text string) Info {
	var (
		out     Info
		section string
	)
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimPrefix(line, "#"))
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		out = append(out, Field{Section: section, Name: name, Value: value})
	}
	return out
}

// Get returns the value of a field and whether it is there.
func (in Info) Get(name string) (string, bool) {
	for _, f := range in {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// KV is one k=v part of a compound INFO value.
type KV struct{ Key, Value string }

// ParseCompound splits a compound INFO value such as "keys=10,expires=2,avg_ttl=0" or
// "ip=10.0.0.2,port=6379,state=online,offset=91592,lag=0". A part without "=" is returned
// with an empty key.
func ParseCompound(v string) []KV {
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	out := make([]KV, 0, len(parts))
	for _, p := range parts {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			out = append(out, KV{Value: p})
			continue
		}
		out = append(out, KV{Key: k, Value: val})
	}
	return out
}
