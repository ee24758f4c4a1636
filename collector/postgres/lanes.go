package postgres

import (
	"strings"
	"sync"
)

// lockingFuncs open a relation, and so wait behind an ACCESS EXCLUSIVE lock on it;
// lockingPrefixes begin families of them.
var (
	lockingFuncs = []string{"pg_relation_size", "pg_table_size", "pg_total_relation_size", "pg_indexes_size",
		"pgstatindex", "pgstatginindex", "pgstathashindex", "pg_relpages"}
	lockingPrefixes = []string{"pgstattuple", "hypopg"}
)

var mayLockCache sync.Map // statement -> bool

// mayLock reports whether a statement may wait for a lock on a user relation: it calls a
// function that opens relations, or reads a relation that is neither a system catalog or
// view (pg_*, information_schema.*) nor a name the statement defines itself (a CTE). It
// errs on the side of "may": a statement it cannot read is put in the locking lane, which
// only costs it some parallelism.
func mayLock(sql string) bool {
	if v, ok := mayLockCache.Load(sql); ok {
		return v.(bool)
	}
	v := decideMayLock(sql)
	mayLockCache.Store(sql, v)
	return v
}

func decideMayLock(sql string) bool {
	body := hideFromInCalls(MaskSQL(sql))
	if callsLockingFunc(body) {
		return true
	}
	own := cteNames(body)
	for _, t := range fromTargets(body) {
		if strings.Contains(t, `"`) {
			return true // a quoted identifier, masked: not read
		}
		name := strings.ToLower(t)
		if own[name] {
			continue
		}
		if strings.HasPrefix(name, "pg_catalog.") || strings.HasPrefix(name, "information_schema.") {
			continue
		}
		if rel := name[strings.LastIndex(name, ".")+1:]; strings.HasPrefix(rel, "pg_") && !strings.Contains(name, ".") {
			continue // a catalog or statistics view on the search path
		}
		return true
	}
	return false
}

// hideFromInCalls blanks the FROM inside extract(epoch FROM x), substring(s FROM n),
// trim(c FROM s) and overlay(...): it names no relation. What lies between the parenthesis
// and the FROM goes with it.
func hideFromInCalls(body string) string {
	return replaceSpans(body, func(start, end int) (int, int, string) {
		if !wordIs(body, start, end, "extract", "substring", "trim", "overlay") || !calledAt(body, end) {
			return 0, -1, ""
		}
		open := skipSpace(body, end) + 1
		inner := body[open:]
		if p := strings.IndexAny(inner, "()"); p >= 0 {
			inner = inner[:p] // no parentheses between the call's and its FROM
		}
		from := -1
		words(inner, func(s, e int) int {
			if wordIs(inner, s, e, "from") {
				from = open + e
				return -1
			}
			return e
		})
		if from < 0 {
			return 0, -1, ""
		}
		return end, from, "("
	})
}

// callsLockingFunc reports whether body calls a function that opens relations, or is an
// EXPLAIN (which plans, and so locks, what it explains).
func callsLockingFunc(body string) bool {
	if i := skipSpace(body, 0); wordIs(body, i, wordEnd(body, i), "explain") {
		return true
	}
	found := false
	words(body, func(start, end int) int {
		if !calledAt(body, end) {
			return end
		}
		found = wordIs(body, start, end, lockingFuncs...)
		for _, p := range lockingPrefixes {
			found = found || hasPrefixFold(body[start:end], p)
		}
		if found {
			return -1
		}
		return end
	})
	return found
}

// cteNames returns the names a statement defines with WITH, lower-cased: name [(columns)]
// AS [NOT] [MATERIALIZED] ( after WITH [RECURSIVE] or a comma.
func cteNames(body string) map[string]bool {
	own := map[string]bool{}
	// the name after i (past WITH, WITH RECURSIVE or a comma), if what follows defines it;
	// and where the definition's parenthesis is
	define := func(i int) (string, int) {
		j := skipSpace(body, i)
		if j == len(body) || !isLetter(body[j]) {
			return "", -1
		}
		k := runEnd(body, j, isIdent)
		name := body[j:k]
		k = skipSpace(body, k)
		if k < len(body) && body[k] == '(' { // a column list
			c := strings.IndexByte(body[k:], ')')
			if c < 0 {
				return "", -1
			}
			k = skipSpace(body, k+c+1)
		}
		if !hasPrefixFold(body[k:], "as") {
			return "", -1
		}
		k = skipSpace(body, k+2)
		if e := wordEnd(body, k); wordIs(body, k, e, "not") && skipSpace(body, e) > e {
			k = skipSpace(body, e)
		}
		if e := wordEnd(body, k); wordIs(body, k, e, "materialized") {
			k = skipSpace(body, e)
		}
		if k == len(body) || body[k] != '(' {
			return "", -1
		}
		return strings.ToLower(name), k + 1
	}
	for i := 0; i < len(body); i++ {
		after := -1
		switch {
		case body[i] == ',':
			after = i + 1
		case isWord(body[i]):
			end := wordEnd(body, i)
			if wordIs(body, i, end, "with") {
				after = end
				if s, e := nextWord(body, end); s >= 0 && wordIs(body, s, e, "recursive") {
					after = e
				}
			}
			i = end - 1
		}
		if after < 0 {
			continue
		}
		if name, next := define(after); next > 0 {
			own[name] = true
			i = next - 1
		}
	}
	return own
}

// fromTargets returns what follows each FROM and JOIN (past ONLY or LATERAL): the relations
// a statement reads, as written; set-returning function calls (pg_ls_waldir(), unnest(...))
// are left out.
func fromTargets(body string) []string {
	var names []string
	isName := func(c byte) bool { return isIdent(c) || c == '.' || c == '"' }
	words(body, func(start, end int) int {
		if !wordIs(body, start, end, "from", "join") {
			return end
		}
		j := skipSpace(body, end)
		if j == end {
			return end
		}
		if s, e := nextWord(body, end); s >= 0 && wordIs(body, s, e, "only", "lateral") {
			if k := skipSpace(body, e); k > e && k < len(body) && (isLetter(body[k]) || body[k] == '"') {
				j = k
			}
		}
		if j == len(body) || !(isLetter(body[j]) || body[j] == '"') {
			return end
		}
		k := runEnd(body, j, isName)
		if calledAt(body, k) {
			return skipSpace(body, k) + 1
		}
		names = append(names, body[j:k])
		return k
	})
	return names
}
