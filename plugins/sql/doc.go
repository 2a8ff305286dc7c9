// Package sqlexec is the built-in "sql" executor: it runs SQL statements
// and scripts against MySQL/MariaDB (go-sql-driver/mysql), PostgreSQL
// (pgx) and SQLite (glebarez/go-sqlite, pure Go), and streams the rows
// they return.
//
// Actions:
//
//   - query: runs one statement, sent to the database as written.
//   - script: splits the sql at the semicolons outside quotes, comments
//     and PostgreSQL dollar quotes (see splitScript) and runs the
//     statements in order, stopping at the first that fails.
//
// Connection. The task's credential, of kind database_dsn, holds the DSN;
// the DSN is authoritative: the target's address and port are not used
// (the target only labels the task). For mysql it is a go-sql-driver DSN
// (user:password@tcp(host:3306)/db?params) or a mysql://user:password@
// host:port/db?params URL; for postgres a postgres:// URL or a key=value
// DSN, read by pgx, which also reads the worker's PG* environment
// variables and ~/.pgpass for what the DSN leaves out; for sqlite the
// absolute path of an existing database file on the worker machine (not
// created when missing), optionally file:PATH and ?_pragma=... driver
// parameters, or :memory:. A sqlite task thus reads and writes a file on
// the worker as the worker's user; the path comes from the credential,
// which an administrator grants, never from the job's parameters. Each
// task opens its own connection and closes it at the end. Connecting and
// logging in are bounded by ConnectTimeout.
//
// Transactions. transaction runs every statement in one transaction,
// committed after the last one and rolled back on an error, a timeout or a
// cancel. read_only runs them in a read-only transaction (PostgreSQL and
// MySQL refuse writes in it; for SQLite the connection is set to PRAGMA
// query_only). Without either, each statement commits on its own.
//
// Output. Statements that return rows (SELECT, WITH, SHOW, VALUES,
// EXPLAIN, PRAGMA, CALL..., and any with RETURNING) print them as they are
// read, in the format asked: table (aligned on the first 100 rows), csv or
// jsonl. Other statements print "N rows affected". Row counts and notes go
// to stdout for a table, to stderr for csv and jsonl. At most max_rows
// rows of a result are printed: then the rest is not read, stderr says
// "…truncated after N rows", and the task still succeeds. Outputs:
// col_NAME for each column of the first row the task returns (NULL is
// ""), rows_affected (the sum over the statements) and row_count (the rows
// printed).
//
// Results. A statement that fails ends the task Failed with the database's
// message. Connecting that fails ends it with status Error: retryable when
// the network failed (refused, unreachable, timed out), not for a bad DSN,
// an unknown host or refused credentials.
//
// Stopping. Timeouts (timeout_ms and the step's) and cancels go through
// the driver's context, and the statement stops on the server too: pgx is
// set to send PostgreSQL a cancel request (by default it only closes the
// connection, leaving the statement running); go-sql-driver only closes
// its connection, so the executor then sends MySQL KILL for the
// connection's thread from a second connection; SQLite interrupts the
// statement.
//
// Secrets. The DSN, its password (in every escaped spelling) and the
// credential's passphrase are replaced by ******** in everything the
// executor emits: rows, column names, outputs, messages and errors, even
// when a query selects the password. Drivers' errors can quote the DSN.
// A very short password would mangle output where it appears by chance.
package sqlexec
