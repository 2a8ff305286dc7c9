package sqlexec

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// Name and Version identify the executor.
const (
	Name    = "sql"
	Version = "1.0.0"
)

// ConnectTimeout bounds connecting and logging in, so that an unreachable
// or silent server fails the task quickly instead of hanging it.
const ConnectTimeout = 10 * time.Second

// CredentialKind is the kind of credential the executor needs.
const CredentialKind = "database_dsn"

// Executor is the sql executor. It is safe for concurrent use.
type Executor struct {
	info           sdk.Info
	schemas        map[string]*sdk.Schema
	connectTimeout time.Duration
}

var (
	_ sdk.Executor  = (*Executor)(nil)
	_ sdk.Validator = (*Executor)(nil)
)

// New returns the sql executor.
func New() sdk.Executor { return newExecutor() }

func newExecutor() *Executor {
	e := &Executor{
		schemas:        map[string]*sdk.Schema{},
		connectTimeout: ConnectTimeout,
		info: sdk.Info{
			Name:        Name,
			Version:     Version,
			Description: "Runs SQL statements and scripts against MySQL/MariaDB, PostgreSQL or SQLite, streaming result rows as a table, CSV or JSON lines; the credential (database_dsn) holds the DSN.",
			Actions:     actions(),
		},
	}
	for _, a := range e.info.Actions {
		s, err := sdk.CompileSchema(a.ParamsSchema)
		if err != nil {
			panic(err) // literals, checked by MustSchema and the tests
		}
		e.schemas[a.Name] = s
	}
	return e
}

// Describe implements sdk.Executor.
func (e *Executor) Describe(context.Context) (sdk.Info, error) { return e.info, nil }

// Validate implements sdk.Validator: beyond the schema, a script must
// split into statements, and max_rows be at least 1.
func (e *Executor) Validate(_ context.Context, req sdk.ValidateRequest) ([]sdk.FieldError, error) {
	_, problems := e.parse(req.Action, req.Params)
	return problems, nil
}

// Execute implements sdk.Executor.
func (e *Executor) Execute(ctx context.Context, task sdk.Task, out sdk.Output) (sdk.Result, error) {
	p, problems := e.parse(task.Action, task.Params)
	if err := sdk.InvalidParams(task.Action, problems); err != nil {
		return sdk.Result{}, err
	}
	cred := task.Credential
	if cred == nil || cred.Kind != CredentialKind || len(cred.Secret) == 0 {
		return sdk.Result{}, fmt.Errorf("the sql executor needs a credential of kind %s holding the DSN", CredentialKind)
	}
	sc := &scrubber{}
	dsn := string(cred.Secret)
	sc.add(dsn, string(cred.Passphrase))

	if p.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(p.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	out.Progress(0, "connecting")
	s, err := open(ctx, p, dsn, e.connectTimeout, sc)
	if err != nil {
		if ctx.Err() != nil {
			return sdk.ContextResult(ctx), nil
		}
		return sdk.Result{}, err
	}
	defer s.close()
	r := &run{p: p, s: s, out: out, sc: sc}
	return r.run(ctx), nil
}

// run is one task's run of its statements.
type run struct {
	p   *params
	s   *session
	out sdk.Output
	sc  *scrubber

	inTx     bool
	affected int64
	rows     int
	firstRow bool // the first row's columns are outputs already
}

// querier is a connection or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (r *run) run(ctx context.Context) sdk.Result {
	var q querier = r.s.conn
	var tx *sql.Tx
	if r.p.Transaction || r.p.ReadOnly {
		var err error
		tx, err = r.s.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: r.p.ReadOnly})
		if err != nil {
			return r.fail(ctx, "begin the transaction", err)
		}
		q, r.inTx = tx, true
	}
	n := len(r.p.statements)
	for i, st := range r.p.statements {
		r.out.Progress(i*100/n, fmt.Sprintf("statement %d of %d", i+1, n))
		if err := r.statement(ctx, q, st); err != nil {
			if tx != nil {
				_ = tx.Rollback()
			}
			what := "the statement"
			if n > 1 {
				what = fmt.Sprintf("statement %d (line %d)", i+1, st.line)
			}
			return r.fail(ctx, what, err)
		}
	}
	if tx != nil {
		if err := tx.Commit(); err != nil {
			return r.fail(ctx, "commit", err)
		}
	}
	r.outputs()
	r.out.Progress(100, "done")
	return sdk.Succeeded()
}

// fail ends the run after err: stopped (ctx done) or failed with the
// database's message, scrubbed.
func (r *run) fail(ctx context.Context, what string, err error) sdk.Result {
	r.outputs()
	if ctx.Err() != nil {
		r.s.abort()
		return sdk.ContextResult(ctx)
	}
	msg := fmt.Sprintf("%s: %s", what, r.sc.scrub(err.Error()))
	_, _ = fmt.Fprintf(r.out.Stderr(), "ERROR: %s\n", msg)
	return sdk.Result{Status: sdk.StatusFailed, Error: msg}
}

func (r *run) outputs() {
	r.out.SetOutput("rows_affected", strconv.FormatInt(r.affected, 10))
	r.out.SetOutput("row_count", strconv.Itoa(r.rows))
}

// notes is where row counts and notes go: stdout for a table, stderr for
// csv and jsonl, which keeps stdout machine-readable.
func (r *run) notes() lineWriter {
	if r.p.Format == formatTable {
		return lineWriter{r.out.Stdout(), r.sc}
	}
	return lineWriter{r.out.Stderr(), r.sc}
}

// statement runs one statement and prints what it returns.
func (r *run) statement(ctx context.Context, q querier, st statement) error {
	if !st.returnsRows() {
		res, err := q.ExecContext(ctx, st.text)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil {
			r.affected += n
			return r.notes().write(fmt.Appendf(nil, "%d %s affected\n", n, plural(int(n), "row", "rows")))
		}
		return r.notes().write([]byte("OK\n"))
	}
	// A PostgreSQL statement stopped at max_rows aborts the transaction it
	// runs in; a savepoint lets the transaction go on after it.
	savepoint := r.s.driver == DriverPostgres && r.inTx && st.readOnly()
	if savepoint {
		if _, err := q.ExecContext(ctx, "SAVEPOINT jobgraph_rows"); err != nil {
			return err
		}
	}
	rows, err := q.QueryContext(ctx, st.text)
	if err != nil {
		return err
	}
	defer rows.Close()
	for {
		truncated, err := r.resultSet(ctx, rows, st)
		if err != nil {
			return err
		}
		if truncated {
			if savepoint {
				_, err = q.ExecContext(ctx, "ROLLBACK TO SAVEPOINT jobgraph_rows")
			}
			return err
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if savepoint {
		_, err = q.ExecContext(ctx, "RELEASE SAVEPOINT jobgraph_rows")
	}
	return err
}

// resultSet prints the current result set of rows, up to max_rows. It
// reports whether it stopped reading there, having closed rows.
func (r *run) resultSet(ctx context.Context, rows *sql.Rows, st statement) (truncated bool, err error) {
	types, err := rows.ColumnTypes()
	if err != nil {
		return false, err
	}
	if len(types) == 0 { // a statement without a result set, run as a query
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return false, err
		}
		return false, r.notes().write([]byte("OK\n"))
	}
	cols := columnsOf(types, r.sc)
	w, err := newResultWriter(r.p.Format, cols, lineWriter{r.out.Stdout(), r.sc}, r.notes())
	if err != nil {
		return false, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	cells := make([]cell, len(cols))
	n, limit := 0, r.p.maxRows()
	for rows.Next() {
		if n == limit {
			return true, r.truncate(ctx, rows, st, w, n)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return false, err
		}
		for i, v := range vals {
			cells[i] = cellOf(v, cols[i], r.sc)
		}
		if !r.firstRow {
			r.firstRow = true
			r.setColumnOutputs(cols, cells)
		}
		if err := w.row(cells); err != nil {
			return false, err
		}
		n++
		r.rows++
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return false, w.end(n)
}

// truncate stops reading a result with more than max_rows rows. A
// read-only query is stopped on the server (which ends the statement, so
// not one that writes); the rest of other results is read and dropped.
func (r *run) truncate(ctx context.Context, rows *sql.Rows, st statement, w resultWriter, n int) error {
	if err := w.end(n); err != nil {
		return err
	}
	if err := (lineWriter{r.out.Stderr(), r.sc}).write(fmt.Appendf(nil, "…truncated after %d rows (max_rows)\n", n)); err != nil {
		return err
	}
	asked := false
	if st.readOnly() {
		asked = r.s.stopStatement(ctx)
	}
	err := rows.Close()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if asked && r.s.driver == DriverPostgres {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			// The statement ended before the cancel request reached it,
			// which may yet hit the next statement: give it time to land
			// on an idle connection, as pgx does.
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
	if asked {
		return nil // the error says the query was interrupted
	}
	return err
}

// readOnlyKeywords start statements that only read, and may be stopped
// on the server once max_rows rows are read.
var readOnlyKeywords = map[string]bool{
	"SELECT": true, "SHOW": true, "VALUES": true, "TABLE": true, "EXPLAIN": true,
	"DESCRIBE": true, "DESC": true, "PRAGMA": true, "HELP": true,
}

// readOnly reports whether the statement only reads, by its words: it
// may be stopped on the server once max_rows rows are read. (A SELECT
// that calls a function that writes is not seen as writing.)
func (s statement) readOnly() bool {
	return !s.returning && !s.writes && (readOnlyKeywords[s.keyword] || s.keyword == "WITH")
}

// outputUnsafe turns a column name into an output name: col_ then the name
// with anything but letters, digits and _ replaced by _.
var outputUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]`)

func (r *run) setColumnOutputs(cols []column, cells []cell) {
	seen := map[string]bool{}
	for i, c := range cols {
		name := "col_" + outputUnsafe.ReplaceAllString(c.name, "_")
		if seen[name] {
			continue // the first of columns with the same name wins
		}
		seen[name] = true
		r.out.SetOutput(name, cells[i].text)
	}
}
