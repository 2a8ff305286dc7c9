package sqlexec

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// The test servers: MariaDB and PostgreSQL on this machine. They must be
// up: a test never skips for a missing server, in CI or not.
const (
	mysqlAdminDSN = "root@tcp(127.0.0.1:3306)/"
	pgAdminDSN    = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// testDB is a fresh database of one driver for one test.
type testDB struct {
	driver string
	dsn    string  // for the executor's credential
	admin  *sql.DB // to set up and check, outside the executor
}

func randomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func openAdmin(t *testing.T, driverName, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, db.PingContext(ctx), "the %s test server must be running (this is a failure, never a skip)", driverName)
	return db
}

// newMySQL creates a database on the MariaDB server, dropped when the
// test ends.
func newMySQL(t *testing.T) testDB {
	t.Helper()
	admin := openAdmin(t, "mysql", mysqlAdminDSN)
	name := randomName("jgsql_")
	_, err := admin.ExecContext(t.Context(), "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name) })
	cfg, err := mysql.ParseDSN(mysqlAdminDSN)
	require.NoError(t, err)
	cfg.DBName = name
	db := openAdmin(t, "mysql", cfg.FormatDSN())
	return testDB{driver: DriverMySQL, dsn: cfg.FormatDSN(), admin: db}
}

// newPostgres creates a schema in the PostgreSQL database test, dropped
// when the test ends; the DSN puts it first on the search path.
func newPostgres(t *testing.T) testDB {
	t.Helper()
	admin := openAdmin(t, "pgx", pgAdminDSN)
	name := randomName("jgsql_")
	_, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+name)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE") })
	dsn := pgAdminDSN + "&search_path=" + name
	return testDB{driver: DriverPostgres, dsn: dsn, admin: openAdmin(t, "pgx", dsn)}
}

// newSQLite creates an empty database file in a temporary directory.
func newSQLite(t *testing.T) testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	require.NoError(t, os.WriteFile(path, nil, 0o600)) // an empty file is an empty database
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return testDB{driver: DriverSQLite, dsn: path, admin: db}
}

func newDB(t *testing.T, driverName string) testDB {
	switch driverName {
	case DriverMySQL:
		return newMySQL(t)
	case DriverPostgres:
		return newPostgres(t)
	}
	return newSQLite(t)
}

var drivers = []string{DriverMySQL, DriverPostgres, DriverSQLite}

// task returns a task of action running sqlText on db, with more
// parameters from extra.
func (db testDB) task(action, sqlText string, extra map[string]any) sdk.Task {
	p := map[string]any{"driver": db.driver, "sql": sqlText}
	for k, v := range extra {
		p[k] = v
	}
	raw, _ := json.Marshal(p)
	return sdk.Task{Action: action, Params: raw, Credential: &sdk.Credential{Kind: CredentialKind, Secret: []byte(db.dsn)}}
}

func (db testDB) exec(t *testing.T, stmt string) {
	t.Helper()
	_, err := db.admin.ExecContext(t.Context(), stmt)
	require.NoError(t, err, stmt)
}

func (db testDB) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	require.NoError(t, db.admin.QueryRowContext(t.Context(), query).Scan(&n), query)
	return n
}

// slowSQL is a query that runs until stopped.
func slowSQL(driverName, marker string) string {
	switch driverName {
	case DriverMySQL:
		return "SELECT /* " + marker + " */ SLEEP(1000)"
	case DriverPostgres:
		return "SELECT /* " + marker + " */ pg_sleep(1000)"
	}
	return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT /* " + marker + " */ count(*) FROM c"
}

// endlessSQL returns rows, one by one, without end.
func endlessSQL(driverName string) string {
	switch driverName {
	case DriverMySQL:
		return "SELECT seq AS x FROM seq_1_to_1000000000000"
	}
	return "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			h := sdktest.InProcess(t, New())
			sdktest.Conformance(t, h, sdktest.Suite{
				Quick: db.task("query", "SELECT 1", nil),
				Slow:  db.task("query", slowSQL(d, "conformance"), nil),
				Invalid: []sdk.Task{
					db.task("script", "SELECT 'unterminated", nil),
					db.task("script", "-- only a comment", nil),
					db.task("query", "   ", nil),
					{Action: "query", Params: db.task("query", "SELECT 1", nil).Params}, // no credential
				},
				SlowTimeout: 300 * time.Millisecond,
			})
		})
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			db.exec(t, "CREATE TABLE items (id INTEGER, name VARCHAR(20), note VARCHAR(20))")
			db.exec(t, "INSERT INTO items VALUES (1, 'apple', NULL), (2, 'pear, \"ripe\"', 'x')")
			q := "SELECT id, name, note FROM items ORDER BY id"

			run := h.Execute(t, db.task("query", q, nil))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, ""+
				"id | name         | note\n"+
				"---+--------------+-----\n"+
				"1  | apple        | NULL\n"+
				"2  | pear, \"ripe\" | x\n"+
				"(2 rows)\n", run.StdoutText())

			run = h.Execute(t, db.task("query", q, map[string]any{"format": "csv"}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, "id,name,note\n1,apple,\n2,\"pear, \"\"ripe\"\"\",x\n", run.StdoutText())
			require.Equal(t, "(2 rows)\n", run.StderrText())

			run = h.Execute(t, db.task("query", q, map[string]any{"format": "jsonl"}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, `{"id":1,"name":"apple","note":null}`+"\n"+`{"id":2,"name":"pear, \"ripe\"","note":"x"}`+"\n", run.StdoutText())

			run = h.Execute(t, db.task("script", "INSERT INTO items VALUES (3, 'fig', NULL); UPDATE items SET note = 'n'; DELETE FROM items WHERE id = 3", nil))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, "1 row affected\n3 rows affected\n1 row affected\n", run.StdoutText())
			require.Equal(t, "5", run.Outputs()["rows_affected"])
		})
	}
}

func TestOutputsFromTheFirstRow(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			run := h.Execute(t, db.task("script", "CREATE TABLE t (a INTEGER, b VARCHAR(10)); INSERT INTO t VALUES (7, 'seven'), (8, 'eight'); SELECT a, b, NULL AS \"n-1\" FROM t ORDER BY a; SELECT 99 AS a", map[string]any{"format": "csv"}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			affected := "2"
			require.Equal(t, map[string]string{
				"col_a": "7", "col_b": "seven", "col_n_1": "",
				"rows_affected": affected, "row_count": "3",
			}, run.Outputs())
		})
	}
}

func TestMaxRowsTruncates(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			// An endless result, cut at max_rows; the connection still
			// serves the next statement.
			run := h.Execute(t, db.task("script", endlessSQL(d)+"; SELECT 42 AS after", map[string]any{"format": "csv", "max_rows": 3}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, "x\n1\n2\n3\nafter\n42\n", run.StdoutText())
			require.Contains(t, run.StderrText(), "…truncated after 3 rows")
			require.Equal(t, "4", run.Outputs()["row_count"])

			// The same inside a transaction.
			run = h.Execute(t, db.task("script", endlessSQL(d)+"; SELECT 42 AS after", map[string]any{"format": "csv", "max_rows": 2, "transaction": true}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, "x\n1\n2\nafter\n42\n", run.StdoutText())
		})
	}
}

func TestTransactionRollsBackOnError(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			db.exec(t, "CREATE TABLE t (a INTEGER PRIMARY KEY)")
			run := h.Execute(t, db.task("script", "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nINSERT INTO t VALUES (1)", map[string]any{"transaction": true}))
			run.RequireStatus(t, sdk.StatusFailed)
			require.Contains(t, run.Result.Error, "statement 3 (line 3)")
			require.Contains(t, run.StderrText(), "ERROR: statement 3")
			require.Equal(t, 0, db.count(t, "SELECT count(*) FROM t"), "nothing committed")

			// Without a transaction, what ran before the error stays.
			run = h.Execute(t, db.task("script", "INSERT INTO t VALUES (1); INSERT INTO t VALUES (1); INSERT INTO t VALUES (3)", nil))
			run.RequireStatus(t, sdk.StatusFailed)
			require.Equal(t, 1, db.count(t, "SELECT count(*) FROM t"))

			// A successful transaction commits.
			run = h.Execute(t, db.task("script", "INSERT INTO t VALUES (5); INSERT INTO t VALUES (6)", map[string]any{"transaction": true}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, 3, db.count(t, "SELECT count(*) FROM t"))
		})
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			db.exec(t, "CREATE TABLE t (a INTEGER)")
			run := h.Execute(t, db.task("query", "INSERT INTO t VALUES (1)", map[string]any{"read_only": true}))
			run.RequireStatus(t, sdk.StatusFailed)
			require.Equal(t, 0, db.count(t, "SELECT count(*) FROM t"))
			run = h.Execute(t, db.task("query", "SELECT count(*) AS n FROM t", map[string]any{"read_only": true}))
			run.RequireStatus(t, sdk.StatusSucceeded)
			require.Equal(t, "0", run.Outputs()["col_n"])
		})
	}
}

func TestSQLErrorFails(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			db := newDB(t, d)
			run := h.Execute(t, db.task("query", "SELECT * FROM no_such_table", nil))
			run.RequireStatus(t, sdk.StatusFailed)
			require.Contains(t, run.Result.Error, "no_such_table")
			require.False(t, run.Result.Retryable)
		})
	}
}

// activeQueries counts the statements containing marker that run on the
// server, other than the counting one.
func activeQueries(t *testing.T, db testDB, marker string) int {
	if db.driver == DriverMySQL {
		return db.count(t, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE '%"+marker+"%'")
	}
	return db.count(t, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%"+marker+"%'")
}

func TestCancelStopsTheServerSideQuery(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range []string{DriverMySQL, DriverPostgres} {
		for _, how := range []string{"cancel", "timeout_ms"} {
			t.Run(d+"/"+how, func(t *testing.T) {
				t.Parallel()
				db := newDB(t, d)
				marker := randomName("jgmarker_")
				extra := map[string]any{"transaction": true}
				if how == "timeout_ms" {
					extra["timeout_ms"] = 1500
				}
				x := h.Start(t, db.task("query", slowSQL(d, marker), extra))
				require.Eventually(t, func() bool { return activeQueries(t, db, marker) == 1 }, 10*time.Second, 20*time.Millisecond, "the query runs on the server")
				if how == "cancel" {
					x.Cancel()
				}
				run := x.Wait(t)
				if how == "cancel" {
					if run.Err == nil {
						run.RequireStatus(t, sdk.StatusCanceled)
					}
				} else {
					run.RequireStatus(t, sdk.StatusTimedOut)
				}
				require.Eventually(t, func() bool { return activeQueries(t, db, marker) == 0 }, 5*time.Second, 20*time.Millisecond, "the query is gone from the server")
			})
		}
	}
}

func TestStreamsRowsAsRead(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, d := range drivers {
		for _, format := range []string{"table", "csv", "jsonl"} {
			t.Run(d+"/"+format, func(t *testing.T) {
				t.Parallel()
				db := newDB(t, d)
				// The result never ends, so rows that arrive were printed
				// as they were read.
				x := h.Start(t, db.task("query", endlessSQL(d), map[string]any{"format": format, "max_rows": 1000000000}))
				want := map[string]string{"table": "\n1\n", "csv": "x\n1\n2\n", "jsonl": "{\"x\":1}\n"}[format]
				x.WaitStdout(t, want)
				x.Cancel()
				run := x.Wait(t)
				if run.Err == nil {
					run.RequireStatus(t, sdk.StatusCanceled)
				}
			})
		}
	}
}

func TestSecretsAreScrubbed(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	password := "Pw-" + randomName("s3cr3t") + "@:x"

	// PostgreSQL trusts every password here, so the session works.
	pgDB := newPostgres(t)
	pg := pgDB
	pg.dsn = strings.Replace(pgDB.dsn, "postgres@", "postgres:"+strings.NewReplacer("@", "%40", "/", "%2F", ":", "%3A").Replace(password)+"@", 1)

	// MariaDB: a user with that password.
	my := newMySQL(t)
	user := randomName("jgu_")
	my.exec(t, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, password))
	t.Cleanup(func() { _, _ = my.admin.ExecContext(context.Background(), "DROP USER IF EXISTS '"+user+"'@'%'") })
	cfg, err := mysql.ParseDSN(my.dsn)
	require.NoError(t, err)
	my.exec(t, fmt.Sprintf("GRANT ALL ON %s.* TO '%s'@'%%'", cfg.DBName, user))
	cfg.User, cfg.Passwd = user, password
	my.dsn = cfg.FormatDSN()

	requireClean := func(t *testing.T, run sdktest.Run) {
		t.Helper()
		all := run.StdoutText() + run.StderrText() + run.Result.Error + fmt.Sprint(run.Outputs())
		for _, p := range run.Progresses() {
			all += p.Message
		}
		if run.Err != nil {
			all += run.Err.Error()
		}
		for _, s := range []string{password, strings.TrimSuffix(password, "@:x"), string(run.Task.Credential.Secret)} {
			require.NotContains(t, all, s)
		}
	}
	for _, db := range []testDB{pg, my} {
		t.Run(db.driver, func(t *testing.T) {
			t.Parallel()
			for _, format := range []string{"table", "csv", "jsonl"} {
				run := h.Execute(t, db.task("query", "SELECT '"+password+"' AS v, 1 AS \""+password+"\"", map[string]any{"format": format}))
				run.RequireStatus(t, sdk.StatusSucceeded)
				require.Contains(t, run.StdoutText(), redacted)
				require.Equal(t, redacted, run.Outputs()["col_v"])
				requireClean(t, run)
			}

			run := h.Execute(t, db.task("query", "SELECT * FROM \""+password+"\"", nil))
			run.RequireStatus(t, sdk.StatusFailed)
			require.Contains(t, run.Result.Error, redacted)
			requireClean(t, run)

			refused := db
			refused.dsn = strings.Replace(strings.Replace(db.dsn, ":5432", ":1", 1), ":3306", ":1", 1)
			run = h.Execute(t, refused.task("query", "SELECT 1", nil))
			run.RequireStatus(t, sdk.StatusError)
			requireClean(t, run)

			garbage := db
			garbage.dsn = "not a dsn " + password
			run = h.Execute(t, garbage.task("query", "SELECT 1", nil))
			run.RequireStatus(t, sdk.StatusError)
			requireClean(t, run)
		})
	}
}

func TestBadPasswordIsAnError(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	my := newMySQL(t)
	user := randomName("jgu_")
	my.exec(t, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'right-password'", user))
	t.Cleanup(func() { _, _ = my.admin.ExecContext(context.Background(), "DROP USER IF EXISTS '"+user+"'@'%'") })
	cfg, err := mysql.ParseDSN(my.dsn)
	require.NoError(t, err)
	cfg.User, cfg.Passwd = user, "wrong-password-"+randomName("")
	my.dsn = cfg.FormatDSN()

	run := h.Execute(t, my.task("query", "SELECT 1", nil))
	run.RequireStatus(t, sdk.StatusError)
	require.False(t, run.Result.Retryable, "refused credentials are not worth retrying")
	require.Contains(t, run.Result.Error, "Access denied")
	require.NotContains(t, run.Result.Error, cfg.Passwd)
}

func TestUnreachableServerIsAQuickError(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	for _, tt := range []struct {
		driver, dsn string
		retryable   bool
	}{
		{DriverMySQL, "root:pw@tcp(127.0.0.1:1)/x", true},
		{DriverMySQL, "mysql://root:pw@127.0.0.1:1/x", true},
		{DriverPostgres, "postgres://postgres:pw@127.0.0.1:1/test", true},
		{DriverPostgres, "host=127.0.0.1 port=1 user=postgres password=pw dbname=test", true},
		{DriverMySQL, "root:pw@tcp(no-such-host.invalid:3306)/x", false},
		{DriverSQLite, "relative/path.db", false},
		{DriverSQLite, "/nonexistent/dir/x.db", false},
	} {
		t.Run(tt.dsn, func(t *testing.T) {
			t.Parallel()
			db := testDB{driver: tt.driver, dsn: tt.dsn}
			start := time.Now()
			run := h.Execute(t, db.task("query", "SELECT 1", nil))
			run.RequireStatus(t, sdk.StatusError)
			require.Less(t, time.Since(start), 5*time.Second)
			require.Equal(t, tt.retryable, run.Result.Retryable, run.Result.Error)
			require.NotContains(t, run.Result.Error, "pw")
		})
	}
}

func TestMySQLURL(t *testing.T) {
	t.Parallel()
	h := sdktest.InProcess(t, New())
	db := newMySQL(t)
	cfg, err := mysql.ParseDSN(db.dsn)
	require.NoError(t, err)
	db.dsn = "mysql://root@127.0.0.1:3306/" + cfg.DBName + "?parseTime=true"
	run := h.Execute(t, db.task("query", "SELECT DATABASE() AS db, CAST('2024-05-06' AS DATE) AS d", map[string]any{"format": "jsonl"}))
	run.RequireStatus(t, sdk.StatusSucceeded)
	require.Equal(t, `{"db":"`+cfg.DBName+`","d":"2024-05-06"}`+"\n", run.StdoutText())
}

func TestValidate(t *testing.T) {
	t.Parallel()
	e := newExecutor()
	for _, tt := range []struct {
		action string
		params string
		field  string
	}{
		{"script", `{"driver": "mysql", "sql": "SELECT 'x"}`, "sql"},
		{"script", `{"driver": "mysql", "sql": "/* only */"}`, "sql"},
		{"query", `{"driver": "mysql", "sql": " \n "}`, "sql"},
		{"query", `{"driver": "oracle", "sql": "SELECT 1"}`, "driver"},
		{"query", `{"driver": "mysql", "sql": "SELECT 1", "max_rows": 0}`, "max_rows"},
		{"query", `{"driver": "mysql", "sql": "SELECT 1", "format": "xml"}`, "format"},
	} {
		errs, err := e.Validate(t.Context(), sdk.ValidateRequest{Action: tt.action, Params: json.RawMessage(tt.params)})
		require.NoError(t, err)
		require.NotEmpty(t, errs, tt.params)
		require.Equal(t, tt.field, errs[0].Field, tt.params)
	}
	errs, err := e.Validate(t.Context(), sdk.ValidateRequest{Action: "script", Params: json.RawMessage(`{"driver": "postgres", "sql": "SELECT $$;$$; SELECT 2"}`)})
	require.NoError(t, err)
	require.Empty(t, errs)
}
