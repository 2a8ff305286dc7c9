package sqlexec

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSplitScript(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		d    dialect
		sql  string
		want []string
	}{
		{"one", dialectSQLite, "SELECT 1", []string{"SELECT 1"}},
		{"trailing semicolon and space", dialectSQLite, " SELECT 1 ;\n\n", []string{"SELECT 1"}},
		{"two", dialectSQLite, "SELECT 1; SELECT 2;", []string{"SELECT 1", "SELECT 2"}},
		{"empty statements dropped", dialectSQLite, ";;SELECT 1;; ;", []string{"SELECT 1"}},
		{"single quotes", dialectSQLite, "SELECT 'a;b'; SELECT 2", []string{"SELECT 'a;b'", "SELECT 2"}},
		{"doubled single quote", dialectSQLite, "SELECT 'it''s; here'; SELECT 2", []string{"SELECT 'it''s; here'", "SELECT 2"}},
		{"double quotes", dialectPostgres, `SELECT 1 AS "a;b"; SELECT 2`, []string{`SELECT 1 AS "a;b"`, "SELECT 2"}},
		{"backticks", dialectMySQL, "SELECT 1 AS `a;b`; SELECT 2", []string{"SELECT 1 AS `a;b`", "SELECT 2"}},
		{"sqlite brackets", dialectSQLite, "SELECT 1 AS [a;b]; SELECT 2", []string{"SELECT 1 AS [a;b]", "SELECT 2"}},
		{"line comment", dialectPostgres, "SELECT 1 -- not; here\n; SELECT 2", []string{"SELECT 1 -- not; here", "SELECT 2"}},
		{"comment-only statement dropped", dialectSQLite, "SELECT 1; -- the end;\n", []string{"SELECT 1"}},
		{"block comment", dialectSQLite, "SELECT /* ; */ 1; /* x; */ SELECT 2", []string{"SELECT /* ; */ 1", "/* x; */ SELECT 2"}},
		{"postgres nested block comment", dialectPostgres, "SELECT /* a /* b; */ c; */ 1; SELECT 2", []string{"SELECT /* a /* b; */ c; */ 1", "SELECT 2"}},
		{"mysql block comments do not nest", dialectMySQL, "SELECT /* a /* b */ 1; SELECT 2", []string{"SELECT /* a /* b */ 1", "SELECT 2"}},
		{"mysql hash comment", dialectMySQL, "SELECT 1 # x; y\n; SELECT 2", []string{"SELECT 1 # x; y", "SELECT 2"}},
		{"mysql double dash needs a space", dialectMySQL, "SELECT 5--1; SELECT 2", []string{"SELECT 5--1", "SELECT 2"}},
		{"mysql backslash escape", dialectMySQL, `SELECT 'a\'; b'; SELECT 2`, []string{`SELECT 'a\'; b'`, "SELECT 2"}},
		{"postgres backslash is literal", dialectPostgres, `SELECT 'a\'; SELECT 2`, []string{`SELECT 'a\'`, "SELECT 2"}},
		{"postgres E string", dialectPostgres, `SELECT E'a\'; b'; SELECT 2`, []string{`SELECT E'a\'; b'`, "SELECT 2"}},
		{"dollar quote", dialectPostgres, "CREATE FUNCTION f() RETURNS int AS $$ BEGIN; RETURN 1; END $$ LANGUAGE plpgsql; SELECT 2",
			[]string{"CREATE FUNCTION f() RETURNS int AS $$ BEGIN; RETURN 1; END $$ LANGUAGE plpgsql", "SELECT 2"}},
		{"tagged dollar quote", dialectPostgres, "SELECT $fn$ a $$; b $fn$; SELECT 2", []string{"SELECT $fn$ a $$; b $fn$", "SELECT 2"}},
		{"positional parameter is not a dollar quote", dialectPostgres, "SELECT $1; SELECT $2", []string{"SELECT $1", "SELECT $2"}},
		{"dollar inside identifier", dialectPostgres, "SELECT a$b$; SELECT 2", []string{"SELECT a$b$", "SELECT 2"}},
		{"dollar is not special in mysql", dialectMySQL, "SELECT '$$'; SELECT $$ ; SELECT 3", []string{"SELECT '$$'", "SELECT $$", "SELECT 3"}},
		{"multibyte", dialectSQLite, "SELECT 'héllo; wörld'; SELECT '日本'", []string{"SELECT 'héllo; wörld'", "SELECT '日本'"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stmts, err := splitScript(tt.sql, tt.d)
			require.NoError(t, err)
			var got []string
			for _, s := range stmts {
				got = append(got, s.text)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSplitScriptErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		d    dialect
		sql  string
		want string
	}{
		{dialectSQLite, "SELECT 'abc", "unterminated string starting at line 1"},
		{dialectSQLite, "SELECT 1;\nSELECT \"abc", "unterminated \"quoted\" identifier or string starting at line 2"},
		{dialectMySQL, "SELECT `abc", "unterminated `quoted` identifier starting at line 1"},
		{dialectSQLite, "SELECT 1 /* x", "unterminated /* comment starting at line 1"},
		{dialectPostgres, "SELECT /* /* */ 1", "unterminated /* comment starting at line 1"},
		{dialectPostgres, "SELECT $x$ abc $y$", "unterminated dollar-quoted string $x$ starting at line 1"},
		{dialectMySQL, `SELECT 'a\'`, "unterminated string starting at line 1"},
		{dialectSQLite, "SELECT [abc", "unterminated [identifier] starting at line 1"},
	} {
		t.Run(tt.sql, func(t *testing.T) {
			t.Parallel()
			_, err := splitScript(tt.sql, tt.d)
			require.EqualError(t, err, tt.want)
		})
	}
}

func TestStatementKinds(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		sql  string
		rows bool
	}{
		{"select 1", true},
		{"  /* c */ -- d\n (SELECT 1) UNION (SELECT 2)", true},
		{"WITH x AS (SELECT 1) SELECT * FROM x", true},
		{"SHOW TABLES", true},
		{"PRAGMA table_info(t)", true},
		{"INSERT INTO t VALUES (1)", false},
		{"insert into t values (1) returning id", true},
		{"UPDATE t SET a = 'returning'", false},
		{"CREATE TABLE t (a int)", false},
	} {
		st := classify(tt.sql, dialectPostgres)
		require.Equal(t, tt.rows, st.returnsRows(), tt.sql)
	}
	for sql, readOnly := range map[string]bool{
		"SELECT 1": true,
		"WITH RECURSIVE c(x) AS (SELECT 1) SELECT x FROM c":     true,
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": false,
		"SELECT * INTO t2 FROM t":                               false,
		"SELECT 'insert'":                                       true,
		"INSERT INTO t VALUES (1) RETURNING id":                 false,
		"CALL p()":                                              false,
	} {
		require.Equal(t, readOnly, classify(sql, dialectPostgres).readOnly(), sql)
	}
	stmts, err := splitScript("SELECT 1;\n\nINSERT INTO t VALUES (2)", dialectSQLite)
	require.NoError(t, err)
	require.Equal(t, []statement{
		{text: "SELECT 1", keyword: "SELECT", line: 1},
		{text: "INSERT INTO t VALUES (2)", keyword: "INSERT", writes: true, line: 3},
	}, stmts)
}

func TestScrubber(t *testing.T) {
	t.Parallel()
	sc := &scrubber{}
	sc.add("postgres://u:p@ss w/rd@h/db", "p@ss w/rd", "")
	for _, in := range []string{
		"cannot parse `postgres://u:p@ss w/rd@h/db`",
		"password p@ss w/rd",
		"escaped p%40ss+w%2Frd",
		"escaped p%40ss%20w%2Frd",
	} {
		require.NotContains(t, sc.scrub(in), "ss w", in)
		require.NotContains(t, sc.scrub(in), "ss+w", in)
		require.NotContains(t, sc.scrub(in), "ss%20w", in)
		require.Contains(t, sc.scrub(in), redacted, in)
	}
	require.Equal(t, "nothing here", sc.scrub("nothing here"))
}
