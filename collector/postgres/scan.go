package postgres

import "strings"

// The statement checks (checkReadSQL, decideMayLock) read masked SQL word by word. They were
// regular expressions once: with case folding and backtracking over every statement of the
// packs, those were a tenth of a one-shot advise's CPU; these scans are linear and allocate
// only what they return.
//
// A word is a run of [0-9A-Za-z_], the bytes between two of regexp's \b; space is \s.

func isWord(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isLetter(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

// isIdent is a byte of an unquoted identifier: a word's, or $.
func isIdent(c byte) bool { return isWord(c) || c == '$' }

// skipSpace returns the first index at or after i that is not space.
func skipSpace(s string, i int) int { return runEnd(s, i, isSpace) }

// wordEnd returns the end of the word starting at i (i when none starts there).
func wordEnd(s string, i int) int { return runEnd(s, i, isWord) }

// runEnd returns the end of the run of bytes that in allows, from i.
func runEnd(s string, i int, in func(byte) bool) int {
	for i < len(s) && in(s[i]) {
		i++
	}
	return i
}

// words calls fn with the start and end of each word of s, left to right; fn returns where
// to go on from (end, or further when it consumed more), or -1 to stop.
func words(s string, fn func(start, end int) int) {
	for i := 0; i < len(s); {
		if !isWord(s[i]) {
			i++
			continue
		}
		end := wordEnd(s, i)
		next := fn(i, end)
		if next < 0 {
			return
		}
		i = max(next, end)
	}
}

// wordIs reports whether the word of s from start to end is one of names, in any case.
func wordIs(s string, start, end int, names ...string) bool {
	for _, n := range names {
		if end-start == len(n) && strings.EqualFold(s[start:end], n) {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether w begins with the lower-case prefix, in any case.
func hasPrefixFold(w, prefix string) bool {
	return len(w) >= len(prefix) && strings.EqualFold(w[:len(prefix)], prefix)
}

// nextWord returns the word that follows i after at least one space (-1s for none).
func nextWord(s string, i int) (start, end int) {
	j := skipSpace(s, i)
	if j == i || j == len(s) || !isWord(s[j]) {
		return -1, -1
	}
	return j, wordEnd(s, j)
}

// calledAt reports whether a call's parenthesis follows i, after any space.
func calledAt(s string, i int) bool {
	j := skipSpace(s, i)
	return j < len(s) && s[j] == '('
}

// replaceSpans returns s with spans of it replaced, left to right: span is called with each
// word's start and end and returns the span [from, to) to replace with with, or to < 0 for
// none; the scan goes on after the span.
func replaceSpans(s string, span func(start, end int) (from, to int, with string)) string {
	var b strings.Builder
	last := 0
	words(s, func(start, end int) int {
		from, to, with := span(start, end)
		if to < 0 {
			return end
		}
		b.WriteString(s[last:from])
		b.WriteString(with)
		last = to
		return to
	})
	if last == 0 { // nothing replaced: a span ends past its word
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}
