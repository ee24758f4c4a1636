package postgres

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/persistence-exporter/persistence_exporter/queries"
)

// The exporter only reads. Every PostgreSQL statement also runs in a read-only transaction
// that ends in ROLLBACK, so that nothing a pack sends can write; checkReadSQL says at load
// time, with the pack's file and line, what that transaction would refuse or could not undo.

var (
	aliasRe = regexp.MustCompile(`(?i)\bas\s+[a-z_][a-z0-9_$]*`)
	// firstWord of a statement, after any opening parentheses
	firstWordRe = regexp.MustCompile(`^[\s(]*([A-Za-z]+)`)
	// writeWordRe: clauses that write or lock rows, wherever they appear in a read statement
	writeWordRe = regexp.MustCompile(`(?i)\b(insert|update|delete|merge|truncate|copy|into|for\s+(?:no\s+key\s+)?(?:update|share)|for\s+key\s+share)\b`)
	// sideEffectRe: functions that act on the server or the session beyond the transaction
	sideEffectRe = regexp.MustCompile(`(?i)\b(pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_promote|` +
		`pg_switch_wal|pg_create_restore_point|pg_stat_reset\w*|pg_wal_replay_pause|pg_wal_replay_resume|` +
		`pg_create_\w*replication_slot|pg_drop_replication_slot|pg_replication_slot_advance|pg_logical_emit_message|` +
		`pg_log_backend_memory_contexts|pg_file_write|pg_file_unlink|pg_file_rename|lo_\w+|dblink\w*|` +
		`set_config|setval|nextval|pg_advisory\w*lock\w*|pg_notify)\s*\(`)
)

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
	m := firstWordRe.FindStringSubmatch(body)
	word := ""
	if m != nil {
		word = strings.ToUpper(m[1])
	}
	ok := false
	for _, a := range allowed {
		ok = ok || a == word
	}
	if !ok {
		return fmt.Sprintf("sql must be a read statement (%s), not %s", strings.Join(allowed, ", "), orNothing(word))
	}
	// a column alias may be any word: AS insert
	unaliased := aliasRe.ReplaceAllString(body, " ")
	if w := writeWordRe.FindString(unaliased); w != "" {
		return fmt.Sprintf("sql must only read: %s writes or locks rows", strings.ToUpper(strings.Join(strings.Fields(w), " ")))
	}
	if f := sideEffectRe.FindStringSubmatch(unaliased); f != nil {
		return fmt.Sprintf("sql must only read: %s() acts beyond the statement", strings.ToLower(f[1]))
	}
	return ""
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
			tag := dollarTag.FindString(rest)
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

var dollarTag = regexp.MustCompile(`^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$`)

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
