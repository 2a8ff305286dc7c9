// Package store keeps jobgraph's state in SQL through gorm: SQLite (pure Go,
// a file in the data directory) by default, MySQL or MariaDB in production.
// It implements the small store interfaces that the domain packages declare
// (project.Store, inventory.Store, ...); the gorm row types are unexported
// and mapped to and from the domain types here, so no gorm tag ever reaches
// the API.
//
// The schema is versioned by the SQL migrations under migrations/, one
// folder per dialect, applied by Migrate (see migrate.go). Both dialects run
// the same conformance tests.
//
// # Transactions
//
// InTx puts the transaction in the context it passes on; every method called
// with that context joins it (see core.Transactor). Methods called outside
// InTx run on their own.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Store is the SQL store. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect Dialect
	log     *slog.Logger
	onStmt  *atomic.Pointer[func(ctx context.Context, sql string)]
}

// Options configure Open.
type Options struct {
	// DSN is the --db setting (see ParseDSN).
	DSN string
	// DataDir holds the default SQLite file.
	DataDir string
	Logger  *slog.Logger
}

// Open connects to the database that opts describe and checks that it
// answers. It does not migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	dialect, dsn, err := ParseDSN(opts.DSN, opts.DataDir)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store")
	var dialector gorm.Dialector
	switch dialect {
	case SQLite:
		if err := ensureDir(dsn); err != nil {
			return nil, err
		}
		dialector = sqlite.Open(dsn)
	case MySQL:
		dialector = mysql.New(mysql.Config{DSN: dsn})
	}
	onStmt := &atomic.Pointer[func(ctx context.Context, sql string)]{}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError:         true,
		SkipDefaultTransaction: true, // every multi-statement change runs in InTx
		// The engine runs the same few statements for every task: parsing
		// them once per connection halves their cost on SQLite.
		PrepareStmt:        true,
		PrepareStmtMaxSize: 500,
		PrepareStmtTTL:     10 * time.Minute,
		NowFunc:            func() time.Time { return time.Now().UTC() },
		Logger: slowQueries{logger.New(slogWriter{log}, logger.Config{
			SlowThreshold:        500 * time.Millisecond,
			LogLevel:             logger.Warn,
			ParameterizedQueries: true, // never log values: they may be secrets
		}), onStmt},
	})
	if err != nil {
		return nil, fmt.Errorf("open %s database %q: %w", dialect, RedactDSN(opts.DSN), err)
	}
	s := &Store{db: db, dialect: dialect, log: log, onStmt: onStmt}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	if dialect == MySQL {
		sqlDB.SetMaxOpenConns(50)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxLifetime(5 * time.Minute)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Ping(pingCtx); err != nil {
		_ = sqlDB.Close()
		where := RedactDSN(opts.DSN)
		if where == "" {
			where = "default SQLite file"
		}
		return nil, fmt.Errorf("database %s unreachable: %w", where, err)
	}
	return s, nil
}

// Dialect reports which database the store uses.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

type txKey struct{}

// txState is the transaction a context carries, and what to run once it
// commits.
type txState struct {
	tx    *gorm.DB
	after []func()
	// done is set once the transaction has ended. A context can outlive its
	// transaction (gqlgen resolves a mutation's payload fields with the
	// mutation's context after it returned); such a context then uses the
	// pool again.
	done atomic.Bool
}

// activeTx returns the transaction ctx carries, if it is still open.
func activeTx(ctx context.Context) (*txState, bool) {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok || st.done.Load() {
		return nil, false
	}
	return st, true
}

// InTx runs fn in a transaction carried by the context it receives. Nested
// calls join the outer transaction. Functions registered with AfterCommit
// run once the outermost transaction has committed, and never if it rolls
// back.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := activeTx(ctx); ok {
		return fn(ctx)
	}
	st := &txState{}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		st.tx = tx
		return fn(context.WithValue(ctx, txKey{}, st))
	})
	st.done.Store(true)
	if err != nil {
		return err
	}
	for _, f := range st.after {
		f()
	}
	return nil
}

// AfterCommit runs fn after the transaction in ctx commits, or at once when
// ctx carries none. Use it for effects outside the database that must not
// happen for a change that is rolled back (reloading a policy cache, say).
func (s *Store) AfterCommit(ctx context.Context, fn func()) {
	if st, ok := activeTx(ctx); ok {
		st.after = append(st.after, fn)
		return
	}
	fn()
}

// conn returns the transaction in ctx, or the pool.
// retryDeadlock runs f, and again (up to three times in all) when MySQL
// picked it as a deadlock victim (error 1213). Only for a statement outside
// a transaction that is safe to repeat, such as a heartbeat over many rows,
// which can deadlock with a transition of one of them; inside a transaction
// the whole transaction is the caller's to repeat.
func (s *Store) retryDeadlock(ctx context.Context, f func() error) error {
	for i := 0; ; i++ {
		err := f()
		var me *gomysql.MySQLError
		if err == nil || i == 2 || !errors.As(err, &me) || me.Number != 1213 {
			return err
		}
		if _, inTx := activeTx(ctx); inTx {
			return err
		}
	}
}

func (s *Store) conn(ctx context.Context) *gorm.DB {
	if st, ok := activeTx(ctx); ok {
		return st.tx
	}
	return s.db.WithContext(ctx)
}

// slogWriter routes gorm's warnings (slow queries, errors) to slog.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Printf(format string, args ...any) {
	w.log.Warn(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

// slowQueries logs slow statements only. Failed statements are not logged
// here: the error goes back to the caller, which decides what it means (a
// duplicate name is a CONFLICT for the client, not a warning for the
// operator) and logs it if it is a fault.
//
// It also tells the function OnStatement installed, if any, of every
// statement.
type slowQueries struct {
	logger.Interface
	onStmt *atomic.Pointer[func(ctx context.Context, sql string)]
}

func (l slowQueries) LogMode(level logger.LogLevel) logger.Interface {
	return slowQueries{l.Interface.LogMode(level), l.onStmt}
}

func (l slowQueries) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if f := l.onStmt.Load(); f != nil {
		sql, _ := fc()
		(*f)(ctx, sql)
	}
	if err == nil {
		l.Interface.Trace(ctx, begin, fc, nil)
	}
}

// OnStatement calls fn after every SQL statement the store runs (with its
// parameters as placeholders; transaction BEGIN and COMMIT are not
// statements here), from the goroutine that ran it; nil stops the calls.
// Benchmarks and tests count queries with it.
func (s *Store) OnStatement(fn func(ctx context.Context, sql string)) {
	if fn == nil {
		s.onStmt.Store(nil)
		return
	}
	s.onStmt.Store(&fn)
}

// isDuplicate reports a unique-key violation.
func isDuplicate(err error) bool { return errors.Is(err, gorm.ErrDuplicatedKey) }

// SQLDB returns the underlying connection pool, for tests and tools that
// need raw SQL. Application code goes through the store's methods.
func (s *Store) SQLDB() (*sql.DB, error) { return s.db.DB() }
