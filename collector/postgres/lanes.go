package postgres

import (
	"regexp"
	"strings"
	"sync"
)

// Functions that open a relation, and so wait behind an ACCESS EXCLUSIVE lock on it.
var lockingFuncs = regexp.MustCompile(`(?i)\b(pg_relation_size|pg_table_size|pg_total_relation_size|pg_indexes_size|` +
	`pgstattuple\w*|pgstatindex|pgstatginindex|pgstathashindex|pg_relpages|hypopg\w*)\s*\(|^\s*explain\b`)

// fromTargets are the relations a statement reads (after FROM or JOIN, or a comma in a
// FROM list); cteNames the names a WITH defines.
var (
	fromTargets = regexp.MustCompile(`(?i)\b(?:from|join)\s+(?:only\s+|lateral\s+)?([a-z_"][\w."$]*)(\s*\()?`)
	cteNames    = regexp.MustCompile(`(?i)(?:\bwith(?:\s+recursive)?|,)\s*([a-z_][\w$]*)\s*(?:\([^)]*\)\s*)?as\s*(?:not\s+)?(?:materialized\s*)?\(`)
)

var fromInCall = regexp.MustCompile(`(?i)\b(extract|substring|trim|overlay)\s*\([^()]*?\bfrom\b`)

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
	body := MaskSQL(sql)
	// FROM inside extract(epoch FROM x), substring(s FROM n), trim(c FROM s) names no relation
	body = fromInCall.ReplaceAllString(body, "$1(")
	if lockingFuncs.MatchString(body) {
		return true
	}
	own := map[string]bool{}
	for _, m := range cteNames.FindAllStringSubmatch(body, -1) {
		own[strings.ToLower(m[1])] = true
	}
	for _, m := range fromTargets.FindAllStringSubmatch(body, -1) {
		name, call := strings.ToLower(strings.ReplaceAll(m[1], `"`, "")), m[2] != ""
		if call {
			continue // a set-returning function: pg_ls_waldir(), unnest(...)
		}
		if own[name] || name == "" {
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
