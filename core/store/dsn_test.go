package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDSN(t *testing.T) {
	t.Parallel()
	good := []struct {
		in      string
		dialect Dialect
		has     []string
	}{
		{"", SQLite, []string{"file:/data/jobgraph.db?", "foreign_keys(1)", "journal_mode(WAL)"}},
		{"sqlite:/tmp/x.db", SQLite, []string{"file:/tmp/x.db?"}},
		{"sqlite:///tmp/x.db", SQLite, []string{"file:/tmp/x.db?"}},
		{"root@tcp(127.0.0.1:3306)/test", MySQL, []string{"root@tcp(127.0.0.1:3306)/test?", "parseTime=true", "clientFoundRows=true", "charset=utf8mb4"}},
		{"mysql://jg:pw@db.example/jobgraph?timeout=3s", MySQL, []string{"jg:pw@tcp(db.example:3306)/jobgraph?", "timeout=3s", "parseTime=true"}},
		{"mysql://jg@db.example:3307/jobgraph", MySQL, []string{"jg@tcp(db.example:3307)/jobgraph?"}},
	}
	for _, tc := range good {
		d, dsn, err := ParseDSN(tc.in, "/data")
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.dialect, d, tc.in)
		for _, s := range tc.has {
			require.Contains(t, dsn, s, tc.in)
		}
	}
	bad := []string{
		"garbage", "sqlite:", "sqlite:/x.db?mode=ro", "mysql://jg:secretpw@/db", "mysql://jg:secretpw@db.example",
		"mysql://jg:secretpw@db.example/a/b", "jg:secretpw@tcp(db:3306)/", "jg:secretpw@tcp(db:3306)/x?bogus=%zz",
	}
	for _, in := range bad {
		_, _, err := ParseDSN(in, "/data")
		require.Error(t, err, in)
		require.True(t, strings.HasPrefix(err.Error(), "invalid database DSN"), err.Error())
		require.NotContains(t, err.Error(), "secretpw", "errors never show the password")
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"sqlite:/var/lib/jobgraph/x.db", "sqlite:/var/lib/jobgraph/x.db"},
		{"sqlite:///tmp/a:b@c/x.db", "sqlite:///tmp/a:b@c/x.db"},
		{"mysql://jg:s3cret@db.example:3306/jobgraph?tls=true", "mysql://jg:xxxxx@db.example:3306/jobgraph?tls=true"},
		{"mysql://jg:s3cret@db.example/jobgraph", "mysql://jg:xxxxx@db.example/jobgraph"},
		{"mysql://jg:s3cret@db.example", "mysql://jg:xxxxx@db.example"},
		{"mysql://jg@db.example:3306/jobgraph", "mysql://jg@db.example:3306/jobgraph"},
		{"mysql://db.example:3306/jobgraph", "mysql://db.example:3306/jobgraph"},
		{"mysql://jg:p%40ss@db.example/jobgraph", "mysql://jg:xxxxx@db.example/jobgraph"},
		{"mysql://jg:@db.example/jobgraph", "mysql://jg:@db.example/jobgraph"},
		{"mysql://jg:s3cret@db.example/jobgraph?loc=America/New_York", "mysql://jg:xxxxx@db.example/jobgraph?loc=America/New_York"},
		{"jg:s3cret@tcp(db.example:3306)/jobgraph?parseTime=true", "jg:xxxxx@tcp(db.example:3306)/jobgraph?parseTime=true"},
		{"jg:s3cret@/jobgraph", "jg:xxxxx@/jobgraph"},
		{"jg@tcp(db.example:3306)/jobgraph", "jg@tcp(db.example:3306)/jobgraph"},
		{"tcp(db.example:3306)/jobgraph", "tcp(db.example:3306)/jobgraph"},
		{"/jobgraph", "/jobgraph"},
		// Passwords holding the separators.
		{"jg:p@ss:w/rd@tcp(db.example:3306)/jobgraph", "jg:xxxxx@tcp(db.example:3306)/jobgraph"},
		{"j@g:p@ss@tcp(db.example:3306)/jobgraph", "j@g:xxxxx@tcp(db.example:3306)/jobgraph"},
		{"mysql://jg:p@ss@db.example/jobgraph", "mysql://jg:xxxxx@db.example/jobgraph"},
		{"jg:pa/ss@tcp(db.example:3306)/jobgraph", "jg:xxxxx@tcp(db.example:3306)/jobgraph"},
		// Malformed: redact too much rather than too little.
		{"jg:pa/ss@tcp(db.example:3306)", "jg:xxxxx@tcp(db.example:3306)"},
		{"mysql://jg:12/ss@db.example", "mysql://jg:xxxxx@db.example"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, RedactDSN(tt.in), "RedactDSN(%q)", tt.in)
	}
}
