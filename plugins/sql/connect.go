package sqlexec

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// session is one task's connection to its database. Each task opens its
// own and closes it at the end: nothing is shared between tasks.
type session struct {
	driver string
	db     *sql.DB
	conn   *sql.Conn
	sc     *scrubber

	mysqlID   int64          // MySQL: the connection's thread ID, to KILL
	pg        *pgconn.PgConn // PostgreSQL: for cancel requests
	stopWatch func()         // SQLite: stops interrupting on ctx's end
}

// open connects to the database of a task: dsn per driver (see the
// driver parameter), within ConnectTimeout. The DSN's password is added to
// sc. Errors are scrubbed; network ones are retryable.
func open(ctx context.Context, p *params, dsn string, connectTimeout time.Duration, sc *scrubber) (*session, error) {
	s := &session{driver: p.Driver, sc: sc}
	switch p.Driver {
	case DriverMySQL:
		cfg, err := mysqlConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql DSN: %w", sc.error(err))
		}
		sc.add(cfg.Passwd)
		cfg.Logger = nopLogger{} // the driver logs to stderr otherwise
		if cfg.Timeout == 0 {
			cfg.Timeout = connectTimeout
		}
		connector, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, fmt.Errorf("mysql DSN: %w", sc.error(err))
		}
		s.db = sql.OpenDB(connector)
	case DriverPostgres:
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("postgres DSN: %w", sc.error(err))
		}
		sc.add(cfg.Password)
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		// By default pgx only closes the connection when ctx is done,
		// which leaves the statement running on the server; a cancel
		// request stops it there.
		cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: cancelGrace}
		}
		// One round trip per statement, and no cache of prepared
		// statements that DDL earlier in a script could invalidate.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		s.db = stdlib.OpenDB(*cfg)
	case DriverSQLite:
		if err := checkSQLitePath(dsn); err != nil {
			return nil, err
		}
		s.db = sql.OpenDB(sqliteConnector{dsn})
	default:
		return nil, fmt.Errorf("unknown driver %q", p.Driver)
	}
	s.db.SetMaxIdleConns(0)

	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	err := s.connect(cctx, p.ReadOnly)
	if err == nil && p.Driver == DriverSQLite {
		err = s.interruptOnDone(ctx)
	}
	if err == nil {
		return s, nil
	}
	s.close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if cctx.Err() != nil {
		return nil, sdk.Retryable(fmt.Errorf("connect to the %s server: no answer within %s", p.Driver, connectTimeout))
	}
	return nil, connectError(p.Driver, sc.error(err))
}

// connect takes the session's one connection and learns what cancelling
// needs.
func (s *session) connect(ctx context.Context, readOnly bool) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	s.conn = conn
	switch s.driver {
	case DriverMySQL:
		return conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&s.mysqlID)
	case DriverPostgres:
		return conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("unexpected postgres connection %T", dc)
			}
			s.pg = c.Conn().PgConn()
			return nil
		})
	case DriverSQLite:
		if readOnly {
			_, err := conn.ExecContext(ctx, "PRAGMA query_only = 1")
			return err
		}
	}
	return nil
}

// cancelGrace is how long a cancelled PostgreSQL statement has to end
// after its cancel request before the connection is closed, and how long
// a MySQL KILL may take.
const cancelGrace = 3 * time.Second

// stopStatement asks the server, from another connection, to stop the
// statement running on the session's connection, whose result is no
// longer read (max_rows). It reports whether it asked.
func (s *session) stopStatement(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelGrace)
	defer cancel()
	switch s.driver {
	case DriverMySQL:
		// KILL QUERY ends the statement, not the connection; a KILL QUERY
		// reaching an idle connection is forgotten by its next statement.
		_, err := s.db.ExecContext(ctx, fmt.Sprintf("KILL QUERY %d", s.mysqlID))
		return err == nil
	case DriverPostgres:
		return s.pg.CancelRequest(ctx) == nil
	}
	return false // SQLite: closing the rows stops the statement
}

// abort makes sure nothing of the task runs on after ctx is done. The
// MySQL driver only closes its connection when ctx is done, and the
// server goes on running the statement (SLEEP, a long UPDATE) until it
// next writes to it: KILL ends the connection's thread, rolling back its
// transaction. pgx sends a cancel request itself (see open), and SQLite
// interrupts the statement.
func (s *session) abort() {
	if s.driver != DriverMySQL || s.mysqlID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cancelGrace)
	defer cancel()
	_, _ = s.db.ExecContext(ctx, fmt.Sprintf("KILL %d", s.mysqlID))
}

func (s *session) close() {
	if s.stopWatch != nil {
		s.stopWatch()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
	_ = s.db.Close()
}

// interruptOnDone interrupts the SQLite statement running on the
// session's connection when ctx is done, until close. The driver watches
// ctx only while it prepares a statement, not while rows.Next steps
// through it, so that a long query (a huge recursive CTE, a big sort)
// would otherwise run on: sqlite3_interrupt, which is safe to call from
// any thread, stops it. The driver does not export its handle: it is
// read from its connection by reflection, checked by the tests.
func (s *session) interruptOnDone(ctx context.Context) error {
	var handle uintptr
	err := s.conn.Raw(func(dc any) error {
		v := reflect.ValueOf(dc)
		if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
			if f := v.Elem().FieldByName("db"); f.IsValid() && f.Kind() == reflect.Uintptr && f.Uint() != 0 {
				handle = uintptr(f.Uint())
				return nil
			}
		}
		return fmt.Errorf("cannot interrupt SQLite statements: unexpected connection %T", dc)
	})
	if err != nil {
		return err
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		// An interrupt that comes before the statement runs is a no-op
		// (SQLite interrupts only running statements), as it may under
		// load: interrupt again until the session stops watching.
		tls := libc.NewTLS()
		defer tls.Close()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			sqlite3.Xsqlite3_interrupt(tls, handle)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	s.stopWatch = func() {
		close(done)
		<-exited
	}
	return nil
}

// mysqlConfig parses a go-sql-driver DSN or a mysql:// URL.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	if !strings.HasPrefix(dsn, "mysql://") {
		return mysql.ParseDSN(dsn)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, errors.New("not a valid mysql:// URL")
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if u.Port() == "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "3306")
	}
	cfg, err := mysql.ParseDSN("tcp(" + host + ")/?" + u.RawQuery)
	if err != nil {
		return nil, err
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	return cfg, nil
}

type nopLogger struct{}

func (nopLogger) Print(...any) {}

// checkSQLitePath accepts :memory: and the absolute path of an existing
// file (optionally file:PATH, and ?parameters). SQLite would create a
// missing file, which hides a mistyped path; and a relative path would
// depend on the worker's working directory. The messages leave the path
// out: it is the credential's secret.
func checkSQLitePath(dsn string) error {
	path, _, _ := strings.Cut(dsn, "?")
	path = strings.TrimPrefix(path, "file:")
	if path == ":memory:" {
		return nil
	}
	if !filepath.IsAbs(path) {
		return errors.New("sqlite DSN: must be the absolute path of a database file on the worker, or :memory:")
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("sqlite DSN: the database file does not exist on the worker (it is not created)")
	case err != nil:
		return errors.New("sqlite DSN: the database file cannot be read on the worker")
	case st.IsDir():
		return errors.New("sqlite DSN: the path is a directory, not a database file")
	}
	return nil
}

// sqliteConnector opens SQLite connections without going through
// sql.Open's driver registry by name.
type sqliteConnector struct{ dsn string }

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	return (&sqlite.Driver{}).Open(c.dsn)
}

func (c sqliteConnector) Driver() driver.Driver { return &sqlite.Driver{} }

// connectError returns err, from connecting, marked retryable when
// trying again may help: the network failed, not the credentials.
func connectError(driverName string, err error) error {
	wrapped := fmt.Errorf("connect to the %s server: %w", driverName, err)
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return wrapped
		}
		return sdk.Retryable(wrapped)
	}
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) {
		return sdk.Retryable(wrapped)
	}
	return wrapped
}
