package sqlexec

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// The drivers, as the driver parameter names them.
const (
	DriverMySQL    = "mysql"
	DriverPostgres = "postgres"
	DriverSQLite   = "sqlite"
)

// DefaultMaxRows is max_rows when unset.
const DefaultMaxRows = 1000

// params are an action's parameters, decoded.
type params struct {
	Driver      string `json:"driver"`
	SQL         string `json:"sql"`
	Transaction bool   `json:"transaction"`
	ReadOnly    bool   `json:"read_only"`
	Format      string `json:"format"`
	MaxRows     *int   `json:"max_rows"`
	TimeoutMS   int64  `json:"timeout_ms"`

	statements []statement // what runs, in order
}

func (p *params) dialect() dialect {
	switch p.Driver {
	case DriverMySQL:
		return dialectMySQL
	case DriverPostgres:
		return dialectPostgres
	}
	return dialectSQLite
}

func (p *params) maxRows() int {
	if p.MaxRows == nil {
		return DefaultMaxRows
	}
	return *p.MaxRows
}

// schema returns the parameters schema of an action; sqlDescription
// describes its sql parameter.
func schema(sqlDescription string) json.RawMessage {
	return sdk.MustSchema(`{
		"type": "object",
		"properties": {
			"driver": {"type": "string", "enum": ["mysql", "postgres", "sqlite"], "description": "The database: mysql (MySQL or MariaDB), postgres (PostgreSQL) or sqlite (a database file on the worker machine). The task's credential, of kind database_dsn, holds the DSN: for mysql a go-sql-driver DSN (user:password@tcp(host:3306)/db?params) or a mysql://user:password@host:3306/db URL; for postgres a postgres://user:password@host:5432/db URL or a key=value DSN; for sqlite the absolute path of an existing database file on the worker (optionally with ?driver parameters), or :memory:. The DSN says where to connect: the target's address and port are not used."},
			"sql": {"type": "string", "minLength": 1, "description": ` + jsonString(sqlDescription) + `},
			"transaction": {"type": "boolean", "default": false, "description": "Run every statement in one transaction, committed at the end and rolled back on any error, timeout or cancel. MySQL commits implicitly before DDL (CREATE, ALTER, DROP...), which a rollback cannot undo."},
			"read_only": {"type": "boolean", "default": false, "description": "Run in a read-only transaction (START TRANSACTION READ ONLY in MySQL, BEGIN READ ONLY in PostgreSQL, PRAGMA query_only in SQLite), so that writes fail. Implies a transaction."},
			"format": {"type": "string", "enum": ["table", "csv", "jsonl"], "default": "table", "description": "How result rows are printed: table (aligned text; widths from the first 100 rows), csv (RFC 4180 with a header row; NULL is an empty field) or jsonl (one JSON object per row, keys in column order, NULL as null). Row counts and other notes go to stdout for table and to stderr for csv and jsonl."},
			"max_rows": {"type": "integer", "minimum": 1, "default": 1000, "description": "The most rows printed per result set. When a result has more, the rest is not read (the server is asked to stop a read-only query) and stderr says so; the task still succeeds."},
			"timeout_ms": {"type": "integer", "minimum": 1, "description": "How long the task may take, connection included, in milliseconds; the statement running then is stopped on the server and the task ends timed out. The step's own timeout applies too."}
		},
		"required": ["driver", "sql"],
		"additionalProperties": false
	}`)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func actions() []sdk.Action {
	return []sdk.Action{
		{
			Name:         "query",
			Description:  "Run one SQL statement and print its result rows or the number of rows it affected; the first row's columns become outputs.",
			ParamsSchema: schema("The statement to run, sent to the database as it is (a trailing semicolon is fine)."),
		},
		{
			Name:         "script",
			Description:  "Run several SQL statements separated by semicolons, in order, stopping at the first that fails; optionally in one transaction.",
			ParamsSchema: schema("The statements, separated by semicolons outside quotes and comments ('...', \"...\", `...`, -- and /* */ comments, and PostgreSQL's $$...$$ dollar quoting are understood; MySQL's DELIMITER is not)."),
		},
	}
}

// parse checks params for the action named name, against its schema and
// then the rules a schema cannot say, and returns them decoded, or the
// problems found.
func (e *Executor) parse(name string, raw json.RawMessage) (*params, []sdk.FieldError) {
	schema, ok := e.schemas[name]
	if !ok {
		return nil, []sdk.FieldError{{Message: fmt.Sprintf("the sql executor has no action %q (it has: query, script)", name)}}
	}
	if problems := schema.Validate(raw); len(problems) > 0 {
		return nil, problems
	}
	var p params
	if err := (sdk.Task{Action: name, Params: raw}).DecodeParams(&p); err != nil {
		return nil, []sdk.FieldError{{Message: err.Error()}}
	}
	if p.Format == "" {
		p.Format = formatTable
	}
	var problems []sdk.FieldError
	switch p.Driver {
	case DriverMySQL, DriverPostgres, DriverSQLite:
	default:
		problems = append(problems, sdk.FieldError{Field: "driver", Message: fmt.Sprintf("%q is not a known driver (mysql, postgres, sqlite)", p.Driver)})
	}
	if p.MaxRows != nil && *p.MaxRows < 1 {
		problems = append(problems, sdk.FieldError{Field: "max_rows", Message: "must be at least 1"})
	}
	if strings.TrimSpace(p.SQL) == "" {
		return nil, append(problems, sdk.FieldError{Field: "sql", Message: "is empty"})
	}
	if name == "script" {
		stmts, err := splitScript(p.SQL, p.dialect())
		switch {
		case err != nil:
			problems = append(problems, sdk.FieldError{Field: "sql", Message: err.Error()})
		case len(stmts) == 0:
			problems = append(problems, sdk.FieldError{Field: "sql", Message: "holds no statement, only comments"})
		}
		p.statements = stmts
	} else {
		p.statements = []statement{classify(p.SQL, p.dialect())}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return &p, nil
}

// classify returns the single statement of the query action: sent as it
// is, and run as a query or not by its first word.
func classify(sql string, d dialect) statement {
	st := statement{text: sql, line: 1}
	if stmts, err := splitScript(sql, d); err == nil && len(stmts) > 0 {
		st.keyword = stmts[0].keyword
		for _, s := range stmts {
			st.returning = st.returning || s.returning
			st.writes = st.writes || s.writes
		}
		return st
	}
	fields := strings.FieldsFunc(sql, func(r rune) bool { return r < 0x80 && !isWordByte(byte(r)) })
	if len(fields) > 0 {
		st.keyword = strings.ToUpper(fields[0])
	}
	return st
}
