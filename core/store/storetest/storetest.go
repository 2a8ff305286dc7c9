// Package storetest gives tests a real, migrated store on every supported
// database: a fresh SQLite file, and a fresh database on the MariaDB/MySQL
// server named by JOBGRAPH_TEST_MYSQL_DSN (default
// root@tcp(127.0.0.1:3306)/test). Each call makes its own database, which
// the test's cleanup drops, so tests run in parallel.
//
// An unreachable MySQL server fails the test. Outside CI a developer
// without one may set JOBGRAPH_TEST_MYSQL_DSN=off to skip the MySQL half;
// under CI=true that setting is refused.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/jobgraph/jobgraph/core/store"
)

// DefaultMySQLDSN is the server the tests use when JOBGRAPH_TEST_MYSQL_DSN is unset.
const DefaultMySQLDSN = "root@tcp(127.0.0.1:3306)/test"

// Dialects returns the dialects to test against.
func Dialects(t testing.TB) []store.Dialect {
	if os.Getenv("JOBGRAPH_TEST_MYSQL_DSN") == "off" {
		if os.Getenv("CI") == "true" {
			t.Fatal("JOBGRAPH_TEST_MYSQL_DSN=off is not allowed under CI=true: the MySQL tests must run")
		}
		return []store.Dialect{store.SQLite}
	}
	return []store.Dialect{store.SQLite, store.MySQL}
}

// Each runs fn as a parallel subtest for every dialect, with a fresh store.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, New(t, d))
		})
	}
}

// New returns a migrated store on a fresh database of dialect d.
func New(t testing.TB, d store.Dialect) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Options{DSN: NewDSN(t, d), DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("open %s store: %v", d, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s store: %v", d, err)
	}
	return s
}

// NewDSN returns the --db setting of a fresh, empty database of dialect d,
// dropped when the test ends.
func NewDSN(t testing.TB, d store.Dialect) string {
	t.Helper()
	if d == store.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "jobgraph.db")
	}
	base := os.Getenv("JOBGRAPH_TEST_MYSQL_DSN")
	if base == "" {
		base = DefaultMySQLDSN
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("JOBGRAPH_TEST_MYSQL_DSN: %v", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("mysql: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MySQL/MariaDB test server %s unreachable: %v (start it, or set JOBGRAPH_TEST_MYSQL_DSN)", store.RedactDSN(base), err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "jgtest_" + hex.EncodeToString(rnd[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
