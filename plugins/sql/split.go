package sqlexec

import (
	"fmt"
	"strings"
)

// dialect is the SQL dialect a script is split for: the three differ in
// which quotes escape with a backslash, which comments exist and whether
// dollar quoting does.
type dialect int

const (
	dialectMySQL dialect = iota + 1
	dialectPostgres
	dialectSQLite
)

// statement is one statement of a script, as split out of it.
type statement struct {
	// text is the statement without its terminating ';' and surrounding
	// white space; inner comments are kept.
	text string
	// keyword is the statement's first word, in upper case ("SELECT").
	keyword string
	// returning is whether the word RETURNING appears outside quotes and
	// comments (INSERT ... RETURNING id returns rows).
	returning bool
	// writes is whether a word that writes (INSERT, UPDATE, DELETE, MERGE,
	// REPLACE, INTO) appears outside quotes and comments: in a WITH, or a
	// SELECT ... INTO.
	writes bool
	line   int // where the statement starts, 1-based, for messages
}

// rowKeywords are the first words of statements that return rows; the
// others are run with Exec, which reports the rows they affected.
var rowKeywords = map[string]bool{
	"SELECT": true, "WITH": true, "SHOW": true, "VALUES": true, "TABLE": true,
	"EXPLAIN": true, "DESCRIBE": true, "DESC": true, "PRAGMA": true, "CALL": true,
	"HELP": true, "CHECK": true, "ANALYZE": true, "OPTIMIZE": true, "REPAIR": true,
	"CHECKSUM": true, "FETCH": true,
}

// returnsRows reports whether the statement is run as a query.
func (s statement) returnsRows() bool { return s.returning || rowKeywords[s.keyword] }

// splitScript splits sql into statements at the semicolons that are
// outside quotes and comments:
//
//   - '...' strings (” inside is a quote; in MySQL a backslash escapes the
//     next character too; in PostgreSQL only in E'...' strings);
//   - "..." (identifiers; strings in MySQL) and `...` identifiers, and
//     [...] identifiers in SQLite;
//   - -- comments to the end of the line (in MySQL only when followed by a
//     space or the end of the line, as MySQL reads them), # comments in
//     MySQL, and /* ... */ comments (nested in PostgreSQL);
//   - PostgreSQL dollar quoting: $$...$$ and $tag$...$tag$.
//
// Statements that hold only white space and comments are dropped. It
// fails for an unterminated string, identifier, comment or dollar quote.
// It does not know MySQL's DELIMITER (a client command, not SQL): a
// stored program's body with semicolons must be run with the query
// action.
func splitScript(sql string, d dialect) ([]statement, error) {
	var (
		out   []statement
		cur   statement
		start = 0
		code  = false // cur has something besides space and comments
	)
	emit := func(end int) {
		if code {
			cur.text = strings.TrimSpace(sql[start:end])
			out = append(out, cur)
		}
		cur, code = statement{}, false
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		if !code && c != ';' && !isSpace(c) && !startsComment(sql, i, d) {
			code = true
			cur.line = lineAt(sql, i)
		}
		switch {
		case c == ';':
			emit(i)
			i++
			start = i
		case isSpace(c):
			i++
		case c == '\'':
			j, err := skipQuoted(sql, i, '\'', d == dialectMySQL)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '"':
			j, err := skipQuoted(sql, i, '"', d == dialectMySQL)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '`' && d != dialectPostgres:
			j, err := skipQuoted(sql, i, '`', false)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[' && d == dialectSQLite:
			j := strings.IndexByte(sql[i+1:], ']')
			if j < 0 {
				return nil, fmt.Errorf("unterminated [identifier] starting at line %d", lineAt(sql, i))
			}
			i += j + 2
		case startsComment(sql, i, d):
			j, err := skipComment(sql, i, d)
			if err != nil {
				return nil, err
			}
			i = j
		case c == '$' && d == dialectPostgres:
			tag, ok := dollarTag(sql, i)
			if !ok {
				i++
				break
			}
			end := strings.Index(sql[i+len(tag):], tag)
			if end < 0 {
				return nil, fmt.Errorf("unterminated dollar-quoted string %s starting at line %d", tag, lineAt(sql, i))
			}
			i += len(tag) + end + len(tag)
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			word := strings.ToUpper(sql[i:j])
			if cur.keyword == "" {
				cur.keyword = word
			}
			switch word {
			case "RETURNING":
				cur.returning = true
			case "INSERT", "UPDATE", "DELETE", "MERGE", "REPLACE", "INTO":
				cur.writes = true
			}
			if d == dialectPostgres && word == "E" && j < len(sql) && sql[j] == '\'' {
				k, err := skipQuoted(sql, j, '\'', true) // E'...' escapes with backslashes
				if err != nil {
					return nil, err
				}
				j = k
			}
			i = j
		default:
			i++
		}
	}
	emit(len(sql))
	return out, nil
}

// skipQuoted returns the index just after the quoted text that starts at
// sql[i] == q. A doubled quote stands for one; with backslash, a backslash
// escapes the next byte.
func skipQuoted(sql string, i int, q byte, backslash bool) (int, error) {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if backslash {
				j++
			}
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1, nil
		}
	}
	what := map[byte]string{'\'': "string", '"': `"quoted" identifier or string`, '`': "`quoted` identifier"}[q]
	return 0, fmt.Errorf("unterminated %s starting at line %d", what, lineAt(sql, i))
}

// startsComment reports whether a comment starts at sql[i].
func startsComment(sql string, i int, d dialect) bool {
	switch c := sql[i]; {
	case c == '#':
		return d == dialectMySQL
	case c == '/':
		return i+1 < len(sql) && sql[i+1] == '*'
	case c == '-':
		if i+1 >= len(sql) || sql[i+1] != '-' {
			return false
		}
		// MySQL reads "--" as a comment only before white space or the
		// end: SELECT 5--1 is 6 there.
		return d != dialectMySQL || i+2 >= len(sql) || isSpace(sql[i+2]) || sql[i+2] < ' '
	}
	return false
}

// skipComment returns the index just after the comment at sql[i].
func skipComment(sql string, i int, d dialect) (int, error) {
	if sql[i] != '/' { // -- or #: to the end of the line
		if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
			return i + j + 1, nil
		}
		return len(sql), nil
	}
	depth := 0
	for j := i; j < len(sql); {
		switch {
		case strings.HasPrefix(sql[j:], "/*"):
			if depth == 0 || d == dialectPostgres { // only PostgreSQL nests them
				depth++
			}
			j += 2
		case strings.HasPrefix(sql[j:], "*/"):
			depth--
			j += 2
			if depth == 0 {
				return j, nil
			}
		default:
			j++
		}
	}
	return 0, fmt.Errorf("unterminated /* comment starting at line %d", lineAt(sql, i))
}

// dollarTag returns the dollar-quote opening tag ($$ or $name$) at sql[i],
// if there is one. $1 (a parameter) is not one, and neither is a $ inside
// an identifier (the caller reads words whole).
func dollarTag(sql string, i int) (string, bool) {
	j := i + 1
	for j < len(sql) && sql[j] != '$' {
		c := sql[j]
		if !(c == '_' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || j > i+1 && c >= '0' && c <= '9') {
			return "", false
		}
		j++
	}
	if j >= len(sql) {
		return "", false
	}
	return sql[i : j+1], true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// isWordByte reports whether c belongs to a word: an identifier, keyword
// or number ($ continues identifiers in MySQL and PostgreSQL).
func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lineAt returns the 1-based line of sql[i].
func lineAt(sql string, i int) int { return strings.Count(sql[:i], "\n") + 1 }
