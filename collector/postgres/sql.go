package postgres

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The exporter only reads. Every PostgreSQL statement also runs in a read-only transaction
// that ends in ROLLBACK, so that nothing a pack sends can write; checkReadSQL says at load
// time, with the pack's file and line, what that transaction would refuse or could not undo.

// readStatements are the statements a pack may send, by source.
var readStatements = map[string][]string{
	queries.SourcePostgres:  {"SELECT", "WITH", "SHOW", "TABLE", "VALUES"},
	queries.SourcePgbouncer: {"SHOW"},
}

// checkReadSQL returns why sql is not one read statement for source, or "".
func checkReadSQL(source, sql string) string {
	body := strings.TrimSpace(MaskSQL(sql))
	body = strings.TrimSpace(strings.TrimSuffix(body, ";"))
	if strings.Contains(body, ";") {
		return "sql holds more than one statement: a query is one read statement"
	}
	allowed := readStatements[source]
	word := strings.ToUpper(firstWord(body))
	ok := false
	for _, a := range allowed {
		ok = ok || a == word
	}
	if !ok {
		return fmt.Sprintf("sql must be a read statement (%s), not %s", strings.Join(allowed, ", "), orNothing(word))
	}
	// a column alias may be any word: AS insert
	unaliased := unalias(body)
	if w := writeClause(unaliased); w != "" {
		return fmt.Sprintf("sql must only read: %s writes or locks rows", strings.ToUpper(strings.Join(strings.Fields(w), " ")))
	}
	if f := sideEffectCall(unaliased); f != "" {
		return fmt.Sprintf("sql must only read: %s() acts beyond the statement", strings.ToLower(f))
	}
	return ""
}

// firstWord is the letters that begin a statement, after any opening parentheses.
func firstWord(body string) string {
	i := runEnd(body, 0, func(c byte) bool { return isSpace(c) || c == '(' })
	return body[i:runEnd(body, i, func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' })]
}

// unalias blanks each column alias, "AS name", so that an alias like "insert" is not read as
// a clause.
func unalias(body string) string {
	return replaceSpans(body, func(start, end int) (int, int, string) {
		if !wordIs(body, start, end, "as") {
			return 0, -1, ""
		}
		j := skipSpace(body, end)
		if j == end || j == len(body) || !isLetter(body[j]) {
			return 0, -1, ""
		}
		return start, runEnd(body, j, isIdent), " "
	})
}

// writeWords are the words that write rows wherever they appear in a statement.
var writeWords = []string{"insert", "update", "delete", "merge", "truncate", "copy", "into"}

// writeClause returns the first clause of body that writes or locks rows (INSERT, ...,
// FOR [NO KEY] UPDATE, FOR [KEY] SHARE), or "".
func writeClause(body string) string {
	found := ""
	words(body, func(start, end int) int {
		if wordIs(body, start, end, writeWords...) {
			found = body[start:end]
			return -1
		}
		if !wordIs(body, start, end, "for") {
			return end
		}
		// FOR UPDATE, FOR SHARE, FOR NO KEY UPDATE|SHARE, FOR KEY SHARE
		s1, e1 := nextWord(body, end)
		if s1 < 0 {
			return end
		}
		last := e1
		switch {
		case wordIs(body, s1, e1, "update", "share"):
		case wordIs(body, s1, e1, "no"), wordIs(body, s1, e1, "key"):
			s2, e2 := nextWord(body, e1)
			if s2 < 0 {
				return end
			}
			if wordIs(body, s1, e1, "key") {
				if !wordIs(body, s2, e2, "share") {
					return end
				}
				last = e2
				break
			}
			s3, e3 := nextWord(body, e2)
			if !wordIs(body, s2, e2, "key") || s3 < 0 || !wordIs(body, s3, e3, "update", "share") {
				return end
			}
			last = e3
		default:
			return end
		}
		found = body[start:last]
		return -1
	})
	return found
}

// sideEffectNames are functions that act on the server or the session beyond the
// transaction; sideEffectPrefixes begin families of them.
var (
	sideEffectNames = []string{"pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
		"pg_promote", "pg_switch_wal", "pg_create_restore_point", "pg_wal_replay_pause", "pg_wal_replay_resume",
		"pg_drop_replication_slot", "pg_replication_slot_advance", "pg_logical_emit_message",
		"pg_log_backend_memory_contexts", "pg_file_write", "pg_file_unlink", "pg_file_rename",
		"set_config", "setval", "nextval", "pg_notify"}
	sideEffectPrefixes = []string{"pg_stat_reset", "dblink"}
)

// sideEffectCall returns the name of the first call in body of a function that acts beyond
// the transaction, or "".
func sideEffectCall(body string) string {
	found := ""
	words(body, func(start, end int) int {
		if !calledAt(body, end) {
			return end
		}
		w := strings.ToLower(body[start:end])
		hit := slices.Contains(sideEffectNames, w) ||
			len(w) > len("lo_") && strings.HasPrefix(w, "lo_") || // large objects: lo_import(), lo_unlink(), ...
			strings.HasPrefix(w, "pg_create_") && strings.HasSuffix(w, "replication_slot") && len(w) >= len("pg_create_replication_slot") ||
			strings.HasPrefix(w, "pg_advisory") && strings.Contains(w[len("pg_advisory"):], "lock")
		for _, p := range sideEffectPrefixes {
			hit = hit || strings.HasPrefix(w, p)
		}
		if hit {
			found = w
			return -1
		}
		return end
	})
	return found
}

func orNothing(word string) string {
	if word == "" {
		return "nothing"
	}
	return word
}

// MaskSQL blanks comments, string literals (quoted, E”, dollar-quoted) and quoted
// identifiers, so that words and semicolons in them are not read as SQL.
func MaskSQL(sql string) string {
	var b strings.Builder
	for i := 0; i < len(sql); {
		rest := sql[i:]
		switch {
		case strings.HasPrefix(rest, "--"):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			i += end
			b.WriteByte(' ')
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return b.String()
			}
			i += end + 4
			b.WriteByte(' ')
		case rest[0] == '\'' || rest[0] == '"':
			q := rest[0]
			j := 1
			for j < len(rest) {
				if rest[j] == '\\' && q == '\'' && i > 0 && (sql[i-1] == 'E' || sql[i-1] == 'e') {
					j += 2
					continue
				}
				if rest[j] == q {
					if j+1 < len(rest) && rest[j+1] == q {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i += j + 1
			b.WriteString(string([]byte{q, q}))
		case rest[0] == '$':
			tag := dollarTag(rest)
			if tag == "" {
				b.WriteByte('$')
				i++
				continue
			}
			end := strings.Index(rest[len(tag):], tag)
			if end < 0 {
				return b.String()
			}
			i += len(tag) + end + len(tag)
			b.WriteString("''")
		default:
			b.WriteByte(rest[0])
			i++
		}
	}
	return b.String()
}

// dollarTag returns the dollar-quote tag ($$, $tag$) that s begins with, or "".
func dollarTag(s string) string {
	i := 1
	if i < len(s) && isLetter(s[i]) {
		i = wordEnd(s, i)
	}
	if i < len(s) && s[i] == '$' {
		return s[:i+1]
	}
	return ""
}

// SQL is the body of a postgres or pgbouncer query: one read statement.
type SQL string

func sqlKind(name string, pushdown bool, scopes ...string) queries.SourceKind {
	return queries.SourceKind{
		Name: name, BodyKey: "sql", Scopes: scopes, TopPushdown: pushdown,
		NewBody: func() any { return new(string) },
		Compile: func(body any, q *queries.Query) (queries.Body, []queries.Problem) {
			sql := *body.(*string)
			if msg := checkReadSQL(name, sql); msg != "" {
				return SQL(sql), []queries.Problem{{Msg: msg}}
			}
			if q.PushesDownTop() && !paramRe.MatchString(MaskSQL(sql)) {
				return SQL(sql), []queries.Problem{{Msg: "top.pushdown: the statement must take the cap as $1 (LIMIT $1 after ORDER BY the top's column)"}}
			}
			return SQL(sql), nil
		},
	}
}

// paramRe finds the parameter $1 (not $10) outside strings and comments.
var paramRe = regexp.MustCompile(`\$1\b`)

// sqlOf is the statement of a postgres or pgbouncer body ("" for none).
func sqlOf(body queries.Body) string {
	sql, _ := body.(SQL)
	return string(sql)
}
